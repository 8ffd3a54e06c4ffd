"""Zero-copy TCP relay with Linux splice(2): socket → pipe → socket, bytes never enter Python.

Used for plain TCP on both sides once the handshake is over. The asyncio transports are paused
and only closed at the end; we work on duplicated descriptors so the event loop's own
registrations are untouched. Counting stays live: each splice reports how many bytes moved.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import socket
from collections.abc import Awaitable, Callable

from hy2scale.streams import AsyncioByteStream

PIPE_SIZE = 1 << 20
_FLAGS = getattr(os, "SPLICE_F_MOVE", 1) | getattr(os, "SPLICE_F_NONBLOCK", 2)
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)


def available() -> bool:
    return hasattr(os, "splice")


async def _wait(loop: asyncio.AbstractEventLoop, fd: int, writable: bool) -> None:
    fut = loop.create_future()
    add, remove = (loop.add_writer, loop.remove_writer) if writable else (loop.add_reader, loop.remove_reader)
    add(fd, lambda: fut.done() or fut.set_result(None))
    try:
        await fut
    finally:
        remove(fd)


async def _one_way(src: socket.socket, dst: socket.socket, count: Callable[[int], None]) -> None:
    loop = asyncio.get_running_loop()
    pipe_r, pipe_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    with contextlib.suppress(OSError):
        fcntl.fcntl(pipe_w, _F_SETPIPE_SZ, PIPE_SIZE)
    try:
        # The waits sit outside the except blocks: an idle connection must not hold an
        # exception and its traceback for as long as it waits.
        while True:
            try:
                n = os.splice(src.fileno(), pipe_w, PIPE_SIZE, flags=_FLAGS)
            except BlockingIOError:
                n = -1
            if n < 0:
                await _wait(loop, src.fileno(), writable=False)
                continue
            if n == 0:
                with contextlib.suppress(OSError):
                    dst.shutdown(socket.SHUT_WR)
                return
            count(n)
            while n:
                try:
                    n -= os.splice(pipe_r, dst.fileno(), n, flags=_FLAGS)
                    continue
                except BlockingIOError:
                    pass
                await _wait(loop, dst.fileno(), writable=True)
    finally:
        os.close(pipe_r)
        os.close(pipe_w)


def can_kernel_splice(a: AsyncioByteStream, b: AsyncioByteStream) -> bool:
    """Nothing may be waiting in the transports' write buffers (we would overtake it)."""
    return available() and all(s.writer.transport.get_write_buffer_size() == 0 for s in (a, b))


def kernel_splice(
    a: AsyncioByteStream,
    b: AsyncioByteStream,
    a_to_b: Callable[[int], None],
    b_to_a: Callable[[int], None],
    leftovers: tuple[bytes, bytes],
) -> Awaitable[None]:
    """Stop the transports from reading now, then return the relay: ``leftovers`` (bytes the
    StreamReaders had already taken from a and b) go first, then splice until both directions
    reached EOF or one failed."""
    ta, tb = a.writer.transport, b.writer.transport
    ta.pause_reading()
    tb.pause_reading()
    sa = socket.socket(fileno=os.dup(a.writer.get_extra_info("socket").fileno()))
    sb = socket.socket(fileno=os.dup(b.writer.get_extra_info("socket").fileno()))
    sa.setblocking(False)
    sb.setblocking(False)
    return _run(sa, sb, ta, tb, a_to_b, b_to_a, leftovers)


async def _run(
    sa: socket.socket,
    sb: socket.socket,
    ta: asyncio.BaseTransport,
    tb: asyncio.BaseTransport,
    a_to_b: Callable[[int], None],
    b_to_a: Callable[[int], None],
    leftovers: tuple[bytes, bytes],
) -> None:
    loop = asyncio.get_running_loop()
    tasks: list[asyncio.Future[None]] = []
    try:
        for data, dst, count in ((leftovers[0], sb, a_to_b), (leftovers[1], sa, b_to_a)):
            if data:
                count(len(data))
                await loop.sock_sendall(dst, data)
        tasks = [
            asyncio.ensure_future(_one_way(sa, sb, a_to_b)),
            asyncio.ensure_future(_one_way(sb, sa, b_to_a)),
        ]
        # Ends when both directions are done, or at once when either fails (reset, broken pipe).
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    except (ConnectionError, OSError):
        pass
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        sa.close()
        sb.close()
        ta.close()
        tb.close()
