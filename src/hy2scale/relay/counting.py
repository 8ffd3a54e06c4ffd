"""A :class:`ByteStream` wrapper that reports bytes as they pass (peer and path accounting)."""

from __future__ import annotations

from collections.abc import Callable

from hy2scale.streams import ByteStream


class CountedStream:
    """tx = bytes written into the stream, rx = bytes read from it; ``on_close`` runs once."""

    def __init__(
        self,
        inner: ByteStream,
        on_tx: Callable[[int], None],
        on_rx: Callable[[int], None],
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self.inner = inner
        self._on_tx = on_tx
        self._on_rx = on_rx
        self._on_close = on_close

    async def read(self, n: int = -1) -> bytes:
        data = await self.inner.read(n)
        if data:
            self._on_rx(len(data))
        return data

    async def readexactly(self, n: int) -> bytes:
        data = await self.inner.readexactly(n)
        self._on_rx(len(data))
        return data

    def write(self, data: bytes) -> None:
        self.inner.write(data)
        self._on_tx(len(data))

    async def drain(self) -> None:
        await self.inner.drain()

    def write_eof(self) -> None:
        self.inner.write_eof()

    def close(self) -> None:
        self.inner.close()
        if self._on_close is not None:
            callback, self._on_close = self._on_close, None
            callback()

    async def wait_closed(self) -> None:
        await self.inner.wait_closed()
