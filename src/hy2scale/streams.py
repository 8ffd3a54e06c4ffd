"""The byte-stream shape every part of the node shares, and the bidirectional pipe.

Anything that moves TCP-like bytes (asyncio streams, Hysteria 2 streams, relay streams,
Shadowsocks sessions) is adapted to :class:`ByteStream` so that services and exits can be
combined freely.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Protocol, runtime_checkable

CHUNK = 64 * 1024


@runtime_checkable
class ByteStream(Protocol):
    """A bidirectional byte stream with asyncio-stream semantics.

    ``read(n)`` returns up to ``n`` bytes, ``b""`` at end of stream. ``write_eof`` half-closes
    the sending side; ``close`` tears both directions down.
    """

    async def read(self, n: int = -1) -> bytes: ...

    async def readexactly(self, n: int) -> bytes: ...

    def write(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...

    def write_eof(self) -> None: ...

    def close(self) -> None: ...

    async def wait_closed(self) -> None: ...


class AsyncioByteStream:
    """Adapts an asyncio (StreamReader, StreamWriter) pair to :class:`ByteStream`."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def read(self, n: int = -1) -> bytes:
        return await self.reader.read(n)

    async def readexactly(self, n: int) -> bytes:
        return await self.reader.readexactly(n)

    def write(self, data: bytes) -> None:
        self.writer.write(data)

    async def drain(self) -> None:
        await self.writer.drain()

    def write_eof(self) -> None:
        if self.writer.can_write_eof() and not self.writer.is_closing():
            with contextlib.suppress(OSError, RuntimeError):
                self.writer.write_eof()

    def close(self) -> None:
        self.writer.close()

    async def wait_closed(self) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            await self.writer.wait_closed()

    def peername(self) -> tuple[str, int] | None:
        return self.writer.get_extra_info("peername")


async def open_tcp(host: str, port: int, timeout: float = 10.0) -> AsyncioByteStream:
    """Dial a TCP target directly; raises ``OSError``/``TimeoutError`` on failure."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port, limit=CHUNK * 4), timeout)
    return AsyncioByteStream(reader, writer)


ByteCounter = Callable[[int], None]


async def _copy(src: ByteStream, dst: ByteStream, count: ByteCounter | None) -> None:
    try:
        while True:
            data = await src.read(CHUNK)
            if not data:
                break
            if count is not None:
                count(len(data))
            dst.write(data)
            await dst.drain()
    finally:
        dst.write_eof()


async def pipe(
    a: ByteStream,
    b: ByteStream,
    *,
    a_to_b: ByteCounter | None = None,
    b_to_a: ByteCounter | None = None,
) -> None:
    """Copy both directions until both have ended (or one fails), then close both.

    ``a_to_b``/``b_to_a`` are called with each chunk's size while bytes flow, so accounting
    sees traffic of long-lived connections, not only when they close.
    """
    tasks = [
        asyncio.ensure_future(_copy(a, b, a_to_b)),
        asyncio.ensure_future(_copy(b, a, b_to_a)),
    ]
    try:
        done, _pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        if any(t.exception() for t in done if not t.cancelled()):
            for t in tasks:
                t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        for t in tasks:
            t.cancel()
        a.close()
        b.close()
        await asyncio.gather(a.wait_closed(), b.wait_closed(), return_exceptions=True)
