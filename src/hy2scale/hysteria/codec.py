"""Hysteria 2 wire codec (sans-IO): QUIC varints, TCP request/response, UDP messages,
fragmentation and reassembly.

Parsers of stream prefixes return ``None`` while the buffer is still too short and raise
:class:`ParseError` as soon as the bytes cannot be valid, so callers can feed partial reads.
"""

from __future__ import annotations

import random
import string
import struct
from dataclasses import dataclass, replace

from .errors import ParseError

TCP_REQUEST_ID = 0x401
MAX_ADDR_LEN = 2048
MAX_MSG_LEN = 2048
MAX_PADDING_LEN = 4096
# Half-open [min, max) ranges, as the official implementation draws them.
AUTH_PADDING = (256, 2048)
TCP_REQUEST_PADDING = (64, 512)
TCP_RESPONSE_PADDING = (128, 1024)

_ALNUM = string.ascii_letters + string.digits
_UDP_HEADER = struct.Struct("!IHBB")
_MAX_VARINT = (1 << 62) - 1


def padding(bounds: tuple[int, int]) -> str:
    """Random ``[A-Za-z0-9]`` padding whose length is drawn from ``[lo, hi)``."""
    return "".join(random.choices(_ALNUM, k=random.randrange(*bounds)))


def varint_size(value: int) -> int:
    if value < 0x40:
        return 1
    if value < 0x4000:
        return 2
    if value < 0x40000000:
        return 4
    if value <= _MAX_VARINT:
        return 8
    raise ValueError(f"varint out of range: {value}")


def encode_varint(value: int) -> bytes:
    size = varint_size(value)
    if size == 1:
        return bytes((value,))
    if size == 2:
        return (value | 0x4000).to_bytes(2, "big")
    if size == 4:
        return (value | 0x80000000).to_bytes(4, "big")
    return (value | 0xC000000000000000).to_bytes(8, "big")


def decode_varint(data: bytes | bytearray | memoryview, pos: int = 0) -> tuple[int, int] | None:
    """``(value, next_pos)``, or ``None`` when ``data`` ends inside the varint."""
    if pos >= len(data):
        return None
    first = data[pos]
    size = 1 << (first >> 6)
    end = pos + size
    if end > len(data):
        return None
    value = first & 0x3F
    for i in range(pos + 1, end):
        value = (value << 8) | data[i]
    return value, end


def _need_varint(data: bytes | bytearray | memoryview, pos: int) -> tuple[int, int]:
    got = decode_varint(data, pos)
    if got is None:
        raise ParseError("truncated varint")
    return got


def encode_tcp_request(addr: str, pad: str | None = None) -> bytes:
    """The client's stream prefix: ``0x401``, address, padding."""
    raw = addr.encode()
    if not 0 < len(raw) <= MAX_ADDR_LEN:
        raise ValueError("address length must be 1..2048 bytes")
    pad_raw = (padding(TCP_REQUEST_PADDING) if pad is None else pad).encode()
    return b"".join(
        (
            encode_varint(TCP_REQUEST_ID),
            encode_varint(len(raw)),
            raw,
            encode_varint(len(pad_raw)),
            pad_raw,
        )
    )


def _length_prefixed(
    data: bytes | bytearray, pos: int, max_len: int, what: str, min_len: int = 0
) -> tuple[int, int] | None:
    """``(start, end)`` of a varint-length-prefixed field at ``pos``; ``None`` while incomplete."""
    got = decode_varint(data, pos)
    if got is None:
        return None
    length, start = got
    if not min_len <= length <= max_len:
        raise ParseError(f"bad {what} length {length}")
    end = start + length
    if len(data) < end:
        return None
    return start, end


def parse_tcp_request(data: bytes | bytearray, with_id: bool = True) -> tuple[str, int] | None:
    """``(addr, consumed)`` from a stream prefix; ``with_id=False`` when 0x401 is already eaten."""
    pos = 0
    if with_id:
        got = decode_varint(data, pos)
        if got is None:
            return None
        kind, pos = got
        if kind != TCP_REQUEST_ID:
            raise ParseError(f"not a TCP request: 0x{kind:x}")
    addr_span = _length_prefixed(data, pos, MAX_ADDR_LEN, "address", min_len=1)
    if addr_span is None:
        return None
    start, pos = addr_span
    addr = _text(data[start:pos])
    pad_span = _length_prefixed(data, pos, MAX_PADDING_LEN, "padding")
    if pad_span is None:
        return None
    return addr, pad_span[1]


def encode_tcp_response(ok: bool, message: str = "", pad: str | None = None) -> bytes:
    raw = message.encode()[:MAX_MSG_LEN]
    pad_raw = (padding(TCP_RESPONSE_PADDING) if pad is None else pad).encode()
    return b"".join(
        (
            b"\x00" if ok else b"\x01",
            encode_varint(len(raw)),
            raw,
            encode_varint(len(pad_raw)),
            pad_raw,
        )
    )


def parse_tcp_response(data: bytes | bytearray) -> tuple[bool, str, int] | None:
    """``(ok, message, consumed)`` or ``None`` while incomplete."""
    if not data:
        return None
    status = data[0]
    if status > 1:
        raise ParseError(f"bad TCP response status {status}")
    msg_span = _length_prefixed(data, 1, MAX_MSG_LEN, "message")
    if msg_span is None:
        return None
    start, pos = msg_span
    message = _text(data[start:pos])
    pad_span = _length_prefixed(data, pos, MAX_PADDING_LEN, "padding")
    if pad_span is None:
        return None
    return status == 0, message, pad_span[1]


def _text(raw: bytes | bytearray) -> str:
    try:
        return bytes(raw).decode()
    except UnicodeDecodeError as exc:
        raise ParseError("address or message is not UTF-8") from exc


@dataclass(frozen=True, slots=True)
class UdpMessage:
    session_id: int
    packet_id: int
    frag_id: int
    frag_count: int
    addr: str
    data: bytes

    def header_size(self) -> int:
        raw_len = len(self.addr.encode())
        return _UDP_HEADER.size + varint_size(raw_len) + raw_len

    def encode(self) -> bytes:
        raw = self.addr.encode()
        return b"".join(
            (
                _UDP_HEADER.pack(self.session_id, self.packet_id, self.frag_id, self.frag_count),
                encode_varint(len(raw)),
                raw,
                self.data,
            )
        )


def parse_udp_message(data: bytes) -> UdpMessage:
    if len(data) < _UDP_HEADER.size:
        raise ParseError("UDP message too short")
    session_id, packet_id, frag_id, frag_count = _UDP_HEADER.unpack_from(data)
    addr_len, pos = _need_varint(data, _UDP_HEADER.size)
    if not 0 < addr_len <= MAX_ADDR_LEN:
        raise ParseError(f"bad address length {addr_len}")
    # The official parser demands at least one payload byte after the address.
    if len(data) <= pos + addr_len:
        raise ParseError("UDP message without payload")
    if frag_count == 0 or frag_id >= frag_count:
        raise ParseError(f"bad fragment {frag_id}/{frag_count}")
    addr = _text(data[pos : pos + addr_len])
    return UdpMessage(session_id, packet_id, frag_id, frag_count, addr, data[pos + addr_len :])


def fragment(msg: UdpMessage, max_size: int) -> list[UdpMessage]:
    """Split ``msg`` so each encoded piece fits ``max_size`` bytes.

    A message that fits goes out whole (packet id 0, 1 fragment), as official senders do first.
    """
    header = msg.header_size()
    if header + len(msg.data) <= max_size:
        return [replace(msg, packet_id=0, frag_id=0, frag_count=1)]
    chunk = max_size - header
    if chunk <= 0:
        raise ValueError("address too long for the datagram size")
    count = -(-len(msg.data) // chunk)
    if count > 255:
        raise ValueError("UDP payload too large to fragment")
    packet_id = random.randint(1, 0xFFFF)
    return [
        UdpMessage(msg.session_id, packet_id, i, count, msg.addr, msg.data[i * chunk : (i + 1) * chunk])
        for i in range(count)
    ]


class Defragger:
    """Reassembles one packet at a time, like the official one: a fragment of another packet
    (or with another count) drops what was collected so far."""

    __slots__ = ("_count", "_packet_id", "_parts", "_received")

    def __init__(self) -> None:
        self._packet_id = -1
        self._count = 0
        self._parts: list[bytes | None] = []
        self._received = 0

    def feed(self, msg: UdpMessage) -> UdpMessage | None:
        if msg.frag_count <= 1:
            return msg
        if msg.frag_id >= msg.frag_count:
            return None
        if msg.packet_id != self._packet_id or msg.frag_count != self._count:
            self._packet_id = msg.packet_id
            self._count = msg.frag_count
            self._parts = [None] * msg.frag_count
            self._received = 0
        if self._parts[msg.frag_id] is None:
            self._parts[msg.frag_id] = msg.data
            self._received += 1
        if self._received < self._count:
            return None
        data = b"".join(p for p in self._parts if p is not None)
        self._packet_id = -1
        self._count = 0
        self._parts = []
        self._received = 0
        return UdpMessage(msg.session_id, msg.packet_id, 0, 1, msg.addr, data)
