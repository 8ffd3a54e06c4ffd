"""Async readers for the relay wire items over a :class:`ByteStream` (the I/O edge of wire.py)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from hy2scale.relay import wire
from hy2scale.streams import ByteStream

META_TIMEOUT = 2.0


async def _exact(stream: ByteStream, n: int) -> bytes:
    try:
        return await stream.readexactly(n)
    except asyncio.IncompleteReadError as exc:
        raise EOFError("relay stream ended early") from exc


async def read_u16(stream: ByteStream) -> int:
    return int.from_bytes(await _exact(stream, 2), "big")


async def read_str16(stream: ByteStream, limit: int = 0xFFFF) -> str:
    n = await read_u16(stream)
    if n > limit:
        raise wire.WireError(f"str16 longer than {limit}")
    return (await _exact(stream, n)).decode(errors="replace")


async def read_meta16(stream: ByteStream, timeout: float = META_TIMEOUT) -> dict[str, Any]:
    """The peer's meta, or ``{}`` when it sends none within ``timeout`` (an old peer)."""

    async def body() -> dict[str, Any]:
        n = await read_u16(stream)
        raw = await _exact(stream, n)
        return wire.parse_meta(raw)

    with contextlib.suppress(TimeoutError):
        return await asyncio.wait_for(body(), timeout)
    return {}


async def read_hello(stream: ByteStream) -> wire.Hello:
    flags = (await _exact(stream, 1))[0]
    name = await read_str16(stream, 1024)
    return wire.Hello(bool(flags & wire.FLAG_EXIT), bool(flags & wire.FLAG_META), name)


async def read_request(stream: ByteStream) -> tuple[str, str]:
    req_id = await read_str16(stream, 64)
    addr = await read_str16(stream, 4096)
    return req_id, addr


async def read_frame16(stream: ByteStream) -> bytes | None:
    """One frame16 payload, or ``None`` at a clean end of stream."""
    try:
        head = await stream.readexactly(2)
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise EOFError("frame16 header cut short") from exc
        return None
    return await _exact(stream, int.from_bytes(head, "big"))


async def read_all(stream: ByteStream, limit: int) -> bytes:
    """Everything up to EOF; raises ``ValueError`` past ``limit`` bytes (bounded reads)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        data = await stream.read(64 * 1024)
        if not data:
            return b"".join(chunks)
        size += len(data)
        if size > limit:
            raise ValueError(f"response larger than {limit} bytes")
        chunks.append(data)


async def close_quietly(stream: ByteStream) -> None:
    stream.close()
    with contextlib.suppress(Exception):
        await stream.wait_closed()
