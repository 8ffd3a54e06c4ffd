"""Relay wire primitives (pv=3), sans-IO: encode to bytes, decode from a buffer.

Every ``decode_*`` takes a buffer and returns ``(value, consumed)``; it raises
:class:`NeedMore` when the buffer holds only part of the item, so callers can feed
bytes incrementally. All integers are big-endian.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any

META_MAX = 4096
FRAME_MAX = 0xFFFF
FLAG_EXIT = 0x01
FLAG_META = 0x02


class NeedMore(Exception):
    """The buffer ends inside the item being decoded."""


class WireError(ValueError):
    """Bytes that cannot be a valid relay item."""


def encode_u16(n: int) -> bytes:
    if not 0 <= n <= 0xFFFF:
        raise WireError(f"u16 out of range: {n}")
    return struct.pack(">H", n)


def _u16(buf: bytes | bytearray | memoryview, at: int = 0) -> int:
    if len(buf) < at + 2:
        raise NeedMore
    return struct.unpack_from(">H", buf, at)[0]


def encode_str16(text: str) -> bytes:
    raw = text.encode()
    return encode_u16(len(raw)) + raw


def decode_str16(buf: bytes | bytearray | memoryview) -> tuple[str, int]:
    n = _u16(buf)
    if len(buf) < 2 + n:
        raise NeedMore
    try:
        return bytes(buf[2 : 2 + n]).decode(), 2 + n
    except UnicodeDecodeError as exc:
        raise WireError("str16 is not UTF-8") from exc


def encode_meta16(meta: dict[str, Any]) -> bytes:
    raw = json.dumps(meta, separators=(",", ":")).encode()
    if len(raw) > META_MAX:
        raise WireError("meta too large")
    return encode_u16(len(raw)) + raw


def parse_meta(raw: bytes) -> dict[str, Any]:
    """The JSON body of a meta16; anything that is not a JSON object counts as "no metadata"."""
    if not raw or len(raw) > META_MAX:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def decode_meta16(buf: bytes | bytearray | memoryview) -> tuple[dict[str, Any], int]:
    n = _u16(buf)
    if len(buf) < 2 + n:
        raise NeedMore
    return parse_meta(bytes(buf[2 : 2 + n])), 2 + n


def encode_request(req_id: str, addr: str) -> bytes:
    return encode_str16(req_id) + encode_str16(addr)


def decode_request(buf: bytes | bytearray | memoryview) -> tuple[tuple[str, str], int]:
    req_id, used = decode_str16(buf)
    addr, used2 = decode_str16(memoryview(buf)[used:])
    return (req_id, addr), used + used2


def encode_frame16(payload: bytes) -> bytes:
    if len(payload) > FRAME_MAX:
        raise WireError("frame16 payload too large")
    return encode_u16(len(payload)) + payload


def decode_frame16(buf: bytes | bytearray | memoryview) -> tuple[bytes, int]:
    n = _u16(buf)
    if len(buf) < 2 + n:
        raise NeedMore
    return bytes(buf[2 : 2 + n]), 2 + n


def encode_latency(name: str, ms: int) -> bytes:
    """`_relay_latency_` body: reporter name and RTT in ms, capped to u16."""
    return encode_str16(name) + encode_u16(max(0, min(int(ms), 0xFFFF)))


def decode_latency(buf: bytes | bytearray | memoryview) -> tuple[tuple[str, int], int]:
    name, used = decode_str16(buf)
    return (name, _u16(buf, used)), used + 2


@dataclass(frozen=True)
class Hello:
    """What a register dialer sends before the server answers: flags and its name."""

    exit_node: bool
    speaks_meta: bool
    name: str


def encode_hello(hello: Hello) -> bytes:
    flags = (FLAG_EXIT if hello.exit_node else 0) | (FLAG_META if hello.speaks_meta else 0)
    return bytes([flags]) + encode_str16(hello.name)


def decode_hello(buf: bytes | bytearray | memoryview) -> tuple[Hello, int]:
    if not buf:
        raise NeedMore
    flags = buf[0]
    name, used = decode_str16(memoryview(buf)[1:])
    return Hello(bool(flags & FLAG_EXIT), bool(flags & FLAG_META), name), 1 + used
