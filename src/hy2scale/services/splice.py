"""Fast path of the relay: when both ends are plain asyncio TCP streams, hand the two transports
to a pair of forwarding protocols so bytes go transport to transport without StreamReader copies
and task switches. Flow control maps one side's write buffer onto the other side's reading.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from hy2scale.services.kernel_splice import can_kernel_splice, kernel_splice
from hy2scale.streams import AsyncioByteStream, ByteStream


class _Forward(asyncio.Protocol):
    """Reads from its own transport and writes into the peer's."""

    def __init__(
        self, own: asyncio.Transport, count: Callable[[int], None], done: Callable[[], None]
    ) -> None:
        self.own = own
        # The StreamReaderProtocol we replace still owns the writer's close waiter: tell it when the
        # connection is gone, or `writer.wait_closed()` would wait forever.
        self.original = own.get_protocol()
        self.peer: asyncio.Transport | None = None
        self.partner: _Forward | None = None
        self.count = count
        self.done = done
        self.eof = False

    def data_received(self, data: bytes) -> None:
        self.count(len(data))
        assert self.peer is not None
        self.peer.write(data)

    def eof_received(self) -> bool:
        self.eof = True
        assert self.peer is not None and self.partner is not None
        if self.partner.eof or not self.peer.can_write_eof():
            self.done()
            return False
        self.peer.write_eof()
        return True  # keep our side open: the other direction may still be sending

    def pause_writing(self) -> None:
        # Our transport's send buffer is full: stop reading what would be written into it.
        if self.peer is not None and not self.peer.is_closing():
            self.peer.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and not self.peer.is_closing():
            self.peer.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self.original.connection_lost(exc)
        self.done()


def can_splice(a: ByteStream, b: ByteStream) -> bool:
    """Both plain (non-TLS) asyncio streams whose StreamReader state we can take over."""
    for stream in (a, b):
        if type(stream) is not AsyncioByteStream:
            return False
        reader, writer = stream.reader, stream.writer
        if writer.get_extra_info("sslcontext") is not None or writer.is_closing():
            return False
        if not all(hasattr(reader, attr) for attr in ("_buffer", "_eof", "_paused")):
            return False
    return True


def _take_over(stream: AsyncioByteStream) -> tuple[bytes, bool, bool]:
    """Bytes the StreamReader holds unread, whether it saw EOF, whether it paused the transport.

    StreamReader keeps these privately (checked by ``can_splice``); they move to the new protocol.
    """
    reader = stream.reader
    data = bytes(reader._buffer)  # type: ignore[attr-defined]
    reader._buffer.clear()  # type: ignore[attr-defined]
    return data, bool(reader._eof), bool(reader._paused)  # type: ignore[attr-defined]


def splice(
    a: AsyncioByteStream, b: AsyncioByteStream, a_to_b: Callable[[int], None], b_to_a: Callable[[int], None]
) -> Awaitable[None]:
    """Take over both transports now (before the loop can feed their StreamReaders again) and
    return an awaitable that forwards until both directions ended or either side failed."""
    ta, tb = a.writer.transport, b.writer.transport
    finished = asyncio.get_running_loop().create_future()

    def done() -> None:
        if not finished.done():
            finished.set_result(None)

    pa, pb = _Forward(ta, a_to_b, done), _Forward(tb, b_to_a, done)
    pa.peer, pa.partner, pb.peer, pb.partner = tb, pb, ta, pa
    states = [_take_over(a), _take_over(b)]
    ta.set_protocol(pa)
    tb.set_protocol(pb)
    for proto, transport, (data, eof, paused) in ((pa, ta, states[0]), (pb, tb, states[1])):
        if data:
            proto.data_received(data)
        if paused:
            transport.resume_reading()
        if eof and not proto.eof_received():
            done()
    return _wait(finished, ta, tb)


async def _wait(finished: asyncio.Future[None], ta: asyncio.BaseTransport, tb: asyncio.BaseTransport) -> None:
    try:
        await finished
    finally:
        # close() flushes what is still buffered for the slower side before the FIN.
        ta.close()
        tb.close()


def fast_relay(
    a: ByteStream, b: ByteStream, a_to_b: Callable[[int], None], b_to_a: Callable[[int], None]
) -> Awaitable[None] | None:
    """The fastest relay both streams allow: kernel splice(2), else transport-to-transport
    protocols, else None (the caller falls back to the generic pipe)."""
    if not can_splice(a, b):
        return None
    assert isinstance(a, AsyncioByteStream) and isinstance(b, AsyncioByteStream)
    seen_eof = any(s.reader._eof for s in (a, b))  # type: ignore[attr-defined]
    if not seen_eof and can_kernel_splice(a, b):
        return kernel_splice(a, b, a_to_b, b_to_a, (_take_over(a)[0], _take_over(b)[0]))
    return splice(a, b, a_to_b, b_to_a)
