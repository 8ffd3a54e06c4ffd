"""Hysteria TCP streams with asyncio-stream semantics over one QUIC bidirectional stream."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from .quic import QuicConn


class Hy2Stream:
    """``read``/``readexactly``/``write``/``drain``/``write_eof``/``close``/``wait_closed``.

    ``write_eof`` sends FIN and keeps reading (half-close); ``close`` sends STOP_SENDING(0) and
    FIN like official peers. A peer RESET ends reads with ``ConnectionResetError``; a peer
    STOP_SENDING makes further writes raise it.
    """

    def __init__(
        self,
        conn: QuicConn,
        stream_id: int,
        initial: bytes = b"",
        on_close: Callable[[int], None] | None = None,
    ) -> None:
        self.conn = conn
        self._on_close = on_close
        self.stream_id = stream_id
        self._buf = bytearray(initial)
        self._eof = False
        self._read_error: Exception | None = None
        self._write_error: Exception | None = None
        self._fin_sent = False
        self._closed = False
        self._waiter: asyncio.Future[None] | None = None
        conn.track_stream(stream_id)
        conn.received(len(initial))

    # -- fed by the protocol layer ----------------------------------------------------------

    def feed(self, data: bytes, end: bool) -> None:
        # After close() nobody reads: dropping the bytes leaves them counted as consumed.
        if data and not self._closed:
            self._buf += data
            self.conn.received(len(data))
        if end:
            self._eof = True
        self._wake()

    def reset_received(self, code: int) -> None:
        self._read_error = ConnectionResetError(f"stream reset by peer (code {code})")
        self._wake()

    def stop_sending_received(self, code: int) -> None:
        self._write_error = ConnectionResetError(f"peer stopped reading (code {code})")
        self.conn.fail_drain(self.stream_id, self._write_error)

    def connection_lost(self) -> None:
        error = ConnectionResetError("connection closed")
        if not self._eof and self._read_error is None:
            self._read_error = error
        self._write_error = self._write_error or error
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- reading ------------------------------------------------------------------------------

    async def _wait(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            raise RuntimeError("read() called while another coroutine is reading")
        self._waiter = self.conn.loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    async def read(self, n: int = -1) -> bytes:
        while not self._buf:
            if self._read_error is not None:
                raise self._read_error
            if self._eof or self._closed or n == 0:
                return b""
            await self._wait()
        if n < 0 or n >= len(self._buf):
            data = bytes(self._buf)
            self._buf.clear()
        else:
            data = bytes(self._buf[:n])
            del self._buf[:n]
        self.conn.consumed(self.stream_id, len(data))
        return data

    async def readexactly(self, n: int) -> bytes:
        while len(self._buf) < n:
            if self._read_error is not None:
                raise self._read_error
            if self._eof or self._closed:
                partial = bytes(self._buf)
                self.conn.consumed(self.stream_id, len(partial))
                self._buf.clear()
                raise asyncio.IncompleteReadError(partial, n)
            await self._wait()
        data = bytes(self._buf[:n])
        del self._buf[:n]
        self.conn.consumed(self.stream_id, n)
        return data

    def at_eof(self) -> bool:
        return self._eof and not self._buf

    # -- writing ------------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if self._write_error is not None:
            raise self._write_error
        if self._fin_sent or self._closed:
            raise ConnectionResetError("stream is closed for writing")
        if data:
            self.conn.send_stream(self.stream_id, data)

    async def drain(self) -> None:
        if self._write_error is not None:
            raise self._write_error
        await self.conn.wait_drained(self.stream_id)

    def write_eof(self) -> None:
        if self._fin_sent or self._closed or self._write_error is not None:
            return
        self._fin_sent = True
        with contextlib.suppress(ConnectionResetError):
            self.conn.send_stream(self.stream_id, b"", end=True)

    def close(self) -> None:
        if self._closed:
            return
        if not self._eof and self._read_error is None:
            self.conn.stop_stream(self.stream_id, 0)
        if not self._fin_sent and self._write_error is None:
            self._fin_sent = True
            with contextlib.suppress(ConnectionResetError):
                self.conn.send_stream(self.stream_id, b"", end=True)
        unread = len(self._buf)
        self._buf.clear()
        self.conn.consumed(self.stream_id, unread)
        self._closed = True
        self.conn.untrack_stream(self.stream_id)
        self._wake()
        if self._on_close is not None:
            self._on_close(self.stream_id)

    async def wait_closed(self) -> None:
        return None

    def is_closing(self) -> bool:
        return self._closed
