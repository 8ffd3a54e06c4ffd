"""SOCKS5 wire format (RFC 1928, RFC 1929), sans-IO: parse and build messages, no sockets.

Parsers take a ``bytes`` buffer and return ``(value, consumed)`` or ``None`` when more bytes are
needed; malformed input raises :class:`Socks5Error` carrying the reply code to send.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

VERSION = 5
AUTH_VERSION = 1

NO_AUTH = 0x00
USER_PASS = 0x02
NO_ACCEPTABLE = 0xFF

CMD_CONNECT = 1
CMD_BIND = 2
CMD_UDP_ASSOCIATE = 3

ATYP_IPV4 = 1
ATYP_DOMAIN = 3
ATYP_IPV6 = 4

REP_SUCCEEDED = 0
REP_FAILURE = 1
REP_NOT_ALLOWED = 2
REP_NETWORK_UNREACHABLE = 3
REP_HOST_UNREACHABLE = 4
REP_CONNECTION_REFUSED = 5
REP_COMMAND_NOT_SUPPORTED = 7
REP_ATYP_NOT_SUPPORTED = 8


class Socks5Error(ValueError):
    def __init__(self, message: str, reply: int = REP_FAILURE) -> None:
        super().__init__(message)
        self.reply = reply


@dataclass(frozen=True)
class Request:
    cmd: int
    host: str
    port: int


def parse_greeting(buf: bytes) -> tuple[frozenset[int], int] | None:
    if len(buf) < 2:
        return None
    if buf[0] != VERSION:
        raise Socks5Error(f"bad version {buf[0]}")
    end = 2 + buf[1]
    if len(buf) < end:
        return None
    return frozenset(buf[2:end]), end


def parse_user_pass(buf: bytes) -> tuple[tuple[str, str], int] | None:
    if len(buf) < 2:
        return None
    if buf[0] != AUTH_VERSION:
        raise Socks5Error(f"bad auth version {buf[0]}")
    ulen = buf[1]
    if len(buf) < 3 + ulen:
        return None
    plen = buf[2 + ulen]
    end = 3 + ulen + plen
    if len(buf) < end:
        return None
    user = buf[2 : 2 + ulen].decode("utf-8", "replace")
    password = buf[3 + ulen : end].decode("utf-8", "replace")
    return (user, password), end


def parse_address(buf: bytes, offset: int = 0) -> tuple[tuple[str, int], int] | None:
    """ATYP + address + port at ``offset``; the shape shared by requests, UDP and Shadowsocks."""
    if len(buf) < offset + 1:
        return None
    atyp = buf[offset]
    if atyp == ATYP_IPV4:
        end = offset + 1 + 4 + 2
        if len(buf) < end:
            return None
        host = str(ipaddress.IPv4Address(buf[offset + 1 : offset + 5]))
    elif atyp == ATYP_IPV6:
        end = offset + 1 + 16 + 2
        if len(buf) < end:
            return None
        host = str(ipaddress.IPv6Address(buf[offset + 1 : offset + 17]))
    elif atyp == ATYP_DOMAIN:
        if len(buf) < offset + 2:
            return None
        n = buf[offset + 1]
        end = offset + 2 + n + 2
        if len(buf) < end:
            return None
        if n == 0:
            raise Socks5Error("empty domain", REP_HOST_UNREACHABLE)
        host = buf[offset + 2 : offset + 2 + n].decode("utf-8", "replace")
    else:
        raise Socks5Error(f"address type {atyp}", REP_ATYP_NOT_SUPPORTED)
    (port,) = struct.unpack_from("!H", buf, end - 2)
    return (host, port), end


def encode_address(host: str, port: int) -> bytes:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        name = host.encode("idna")
        if not 0 < len(name) < 256:
            raise Socks5Error("domain length", REP_HOST_UNREACHABLE) from None
        return bytes([ATYP_DOMAIN, len(name)]) + name + struct.pack("!H", port)
    atyp = ATYP_IPV4 if ip.version == 4 else ATYP_IPV6
    return bytes([atyp]) + ip.packed + struct.pack("!H", port)


def parse_request(buf: bytes) -> tuple[Request, int] | None:
    if len(buf) < 4:
        return None
    if buf[0] != VERSION:
        raise Socks5Error(f"bad version {buf[0]}")
    parsed = parse_address(buf, 3)
    if parsed is None:
        return None
    (host, port), end = parsed
    return Request(buf[1], host, port), end


def method_reply(method: int) -> bytes:
    return bytes([VERSION, method])


def auth_reply(ok: bool) -> bytes:
    return bytes([AUTH_VERSION, 0 if ok else 1])


def reply(code: int, host: str = "0.0.0.0", port: int = 0) -> bytes:
    return bytes([VERSION, code, 0]) + encode_address(host, port)


def parse_udp(datagram: bytes) -> tuple[str, int, bytes] | None:
    """A client UDP datagram: RSV(2) FRAG ATYP ADDR PORT DATA. Fragments are dropped (RFC 1928 allows it)."""
    if len(datagram) < 4 or datagram[2] != 0:
        return None
    try:
        parsed = parse_address(datagram, 3)
    except Socks5Error:
        return None
    if parsed is None:
        return None
    (host, port), end = parsed
    return host, port, datagram[end:]


def encode_udp(host: str, port: int, data: bytes) -> bytes:
    return b"\x00\x00\x00" + encode_address(host, port) + data
