"""Telling a dead relay path from a live one before handing the stream out.

A relay hop always answers OK; a path that fails further on shows up only as the stream closing
(relay spec §1.3). :func:`confirm` waits a short moment for that early close, without losing
any byte the far end sends first.
"""

from __future__ import annotations

import asyncio

from hy2scale.streams import CHUNK, ByteStream


class EarlyClose(Exception):
    """The stream ended before the confirmation window passed: the path is dead."""


class PrefetchedStream:
    """A stream whose first read was started early; the bytes it returns are delivered first."""

    def __init__(self, inner: ByteStream, first: asyncio.Task[bytes]) -> None:
        self.inner = inner
        self._first: asyncio.Task[bytes] | None = first
        self._buffer = b""

    async def _take_first(self) -> None:
        if self._first is not None:
            task, self._first = self._first, None
            self._buffer += await task

    async def read(self, n: int = -1) -> bytes:
        await self._take_first()
        if self._buffer:
            size = len(self._buffer) if n < 0 else n
            data, self._buffer = self._buffer[:size], self._buffer[size:]
            return data
        return await self.inner.read(n)

    async def readexactly(self, n: int) -> bytes:
        await self._take_first()
        if len(self._buffer) >= n:
            data, self._buffer = self._buffer[:n], self._buffer[n:]
            return data
        head, self._buffer = self._buffer, b""
        try:
            return head + await self.inner.readexactly(n - len(head))
        except asyncio.IncompleteReadError as exc:
            raise asyncio.IncompleteReadError(head + exc.partial, n) from exc

    def write(self, data: bytes) -> None:
        self.inner.write(data)

    async def drain(self) -> None:
        await self.inner.drain()

    def write_eof(self) -> None:
        self.inner.write_eof()

    def close(self) -> None:
        if self._first is not None and not self._first.done():
            self._first.cancel()
        self.inner.close()

    async def wait_closed(self) -> None:
        await self.inner.wait_closed()


async def confirm(stream: ByteStream, window: float) -> ByteStream:
    """``stream`` (wrapped) if it is still open after ``window`` seconds or has sent data;
    raises :class:`EarlyClose` (and closes it) if it ended first."""
    first = asyncio.ensure_future(stream.read(CHUNK))
    done, _ = await asyncio.wait({first}, timeout=window)
    if done:
        try:
            data = first.result()
        except (OSError, ConnectionError, EOFError) as exc:
            stream.close()
            raise EarlyClose(str(exc) or type(exc).__name__) from exc
        if not data:
            stream.close()
            raise EarlyClose("closed by a hop further on")
    return PrefetchedStream(stream, first)
