"""Minimal DNS wire codec (RFC 1035) for A/AAAA lookups over TCP: pure functions, no I/O."""

from __future__ import annotations

import ipaddress
import struct

TYPE_A = 1
TYPE_AAAA = 28
CLASS_IN = 1
FLAG_RD = 0x0100


class DnsError(ValueError):
    """A malformed, mismatched or failed DNS answer."""


def encode_name(name: str) -> bytes:
    out = bytearray()
    for label in name.rstrip(".").split("."):
        try:
            raw = label.encode("idna") if label else b""
        except UnicodeError:
            raise DnsError(f"invalid name {name!r}") from None
        if not raw or len(raw) > 63:
            raise DnsError(f"invalid name {name!r}")
        out += bytes([len(raw)]) + raw
    if len(out) + 1 > 255:
        raise DnsError(f"name too long {name!r}")
    return bytes(out) + b"\x00"


def build_query(name: str, qid: int, qtype: int = TYPE_A) -> bytes:
    """One question, recursion desired."""
    header = struct.pack("!HHHHHH", qid & 0xFFFF, FLAG_RD, 1, 0, 0, 0)
    return header + encode_name(name) + struct.pack("!HH", qtype, CLASS_IN)


def frame_tcp(message: bytes) -> bytes:
    return struct.pack("!H", len(message)) + message


def _skip_name(data: bytes, offset: int) -> int:
    """Offset just past the (possibly compressed) name starting at ``offset``."""
    hops = 0
    while True:
        if offset >= len(data):
            raise DnsError("truncated name")
        length = data[offset]
        if length & 0xC0 == 0xC0:
            if offset + 1 >= len(data):
                raise DnsError("truncated pointer")
            return offset + 2
        if length == 0:
            return offset + 1
        offset += 1 + length
        hops += 1
        if hops > 127:
            raise DnsError("name too long")


def parse_response(data: bytes, qid: int) -> list[str]:
    """Addresses (A and AAAA) in the answer section of a reply to ``qid``."""
    if len(data) < 12:
        raise DnsError("short DNS message")
    rid, flags, qdcount, ancount, _, _ = struct.unpack("!HHHHHH", data[:12])
    if rid != qid & 0xFFFF:
        raise DnsError("reply id does not match the query")
    if not flags & 0x8000:
        raise DnsError("not a DNS reply")
    rcode = flags & 0x000F
    if rcode:
        names = {1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}
        raise DnsError(f"DNS error {names.get(rcode, rcode)}")
    offset = 12
    for _ in range(qdcount):
        offset = _skip_name(data, offset) + 4
    ips: list[str] = []
    for _ in range(ancount):
        offset = _skip_name(data, offset)
        if offset + 10 > len(data):
            raise DnsError("truncated answer")
        rtype, rclass, _, rdlength = struct.unpack("!HHIH", data[offset : offset + 10])
        offset += 10
        rdata = data[offset : offset + rdlength]
        if len(rdata) != rdlength:
            raise DnsError("truncated record")
        offset += rdlength
        if rclass == CLASS_IN and rtype == TYPE_A and rdlength == 4:
            ips.append(str(ipaddress.IPv4Address(rdata)))
        elif rclass == CLASS_IN and rtype == TYPE_AAAA and rdlength == 16:
            ips.append(str(ipaddress.IPv6Address(rdata)))
    return ips
