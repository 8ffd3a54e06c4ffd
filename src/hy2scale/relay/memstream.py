"""An in-process connected pair of :class:`ByteStream` ends.

Used where two relay endpoints live in one process without a network between them (tests,
and the local side of a reverse-served relay stream).
"""

from __future__ import annotations

import asyncio

_HIGH_WATER = 1024 * 1024


class MemoryStream:
    """One end of a pair: bytes written here are read at the other end."""

    def __init__(self) -> None:
        self._reader = asyncio.StreamReader(limit=_HIGH_WATER)
        self._other: MemoryStream | None = None
        self._closed = False
        self._readable = asyncio.Event()
        self._readable.set()

    async def read(self, n: int = -1) -> bytes:
        data = await self._reader.read(n)
        self._wake_writer()
        return data

    async def readexactly(self, n: int) -> bytes:
        data = await self._reader.readexactly(n)
        self._wake_writer()
        return data

    def _wake_writer(self) -> None:
        if len(self._reader._buffer) < _HIGH_WATER:
            self._readable.set()

    def write(self, data: bytes) -> None:
        other = self._other
        if self._closed or other is None or other._closed or other._reader.at_eof():
            raise ConnectionResetError("memory stream closed")
        if data:
            other._reader.feed_data(data)
            if len(other._reader._buffer) >= _HIGH_WATER:
                other._readable.clear()

    async def drain(self) -> None:
        other = self._other
        if other is not None and not other._closed:
            # Backpressure: wait until the reader has consumed below the high-water mark.
            await other._readable.wait()

    def write_eof(self) -> None:
        other = self._other
        if other is not None and not other._reader.at_eof():
            other._reader.feed_eof()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._readable.set()
        self._reader.feed_eof()
        self.write_eof()
        if self._other is not None:
            self._other._readable.set()

    async def wait_closed(self) -> None:
        return None


def memory_pair() -> tuple[MemoryStream, MemoryStream]:
    a, b = MemoryStream(), MemoryStream()
    a._other, b._other = b, a
    return a, b
