"""UDP relay sessions carried in QUIC DATAGRAM frames (both ends)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Protocol

from .codec import Defragger, UdpMessage, fragment
from .errors import ClosedError
from .quic import MAX_DATAGRAM_PAYLOAD, QuicConn

if TYPE_CHECKING:
    from collections.abc import Callable

log = logging.getLogger("hy2scale.hysteria")

QUEUE_SIZE = 1024


class UdpOutbound(Protocol):
    """What the server's handler returns for one client UDP session."""

    async def send(self, data: bytes, addr: str) -> None: ...

    async def recv(self) -> tuple[bytes, str]: ...

    def close(self) -> None: ...


def send_message(conn: QuicConn, session_id: int, data: bytes, addr: str) -> None:
    for part in fragment(UdpMessage(session_id, 0, 0, 1, addr, data), MAX_DATAGRAM_PAYLOAD):
        conn.send_datagram(part.encode())


class UdpSession:
    """A client UDP session: ``send(data, "host:port")`` and ``recv() -> (data, "host:port")``."""

    def __init__(self, conn: QuicConn, session_id: int, on_close: Callable[[int], None]) -> None:
        self.conn = conn
        self.session_id = session_id
        self._on_close = on_close
        self._defrag = Defragger()
        self._queue: asyncio.Queue[tuple[bytes, str] | None] = asyncio.Queue(QUEUE_SIZE)
        self._closed = False

    def feed(self, msg: UdpMessage) -> None:
        whole = self._defrag.feed(msg)
        if whole is None:
            return
        with contextlib.suppress(asyncio.QueueFull):
            # Like official clients: a full receive queue drops instead of blocking the connection.
            self._queue.put_nowait((whole.data, whole.addr))

    async def send(self, data: bytes, addr: str) -> None:
        if self._closed or self.conn.closed.is_set():
            raise ClosedError("UDP session closed")
        send_message(self.conn, self.session_id, data, addr)

    async def recv(self) -> tuple[bytes, str]:
        if self._closed:
            raise ClosedError("UDP session closed")
        item = await self._queue.get()
        if item is None:
            self._queue.put_nowait(None)
            raise ClosedError("UDP session closed")
        return item

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._on_close(self.session_id)
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)

    def connection_lost(self) -> None:
        self._closed = True
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)


class ServerUdpSession:
    """The server end of one client session: relays through the handler's :class:`UdpOutbound`."""

    def __init__(
        self,
        conn: QuicConn,
        session_id: int,
        open_outbound: Callable[[], object],
    ) -> None:
        self.conn = conn
        self.session_id = session_id
        self.last_active = conn.loop.time()
        self._defrag = Defragger()
        self._queue: asyncio.Queue[tuple[bytes, str]] = asyncio.Queue(QUEUE_SIZE)
        self._task = asyncio.ensure_future(self._run(open_outbound))

    def feed(self, msg: UdpMessage) -> None:
        self.last_active = self.conn.loop.time()
        whole = self._defrag.feed(msg)
        if whole is not None:
            with contextlib.suppress(asyncio.QueueFull):
                self._queue.put_nowait((whole.data, whole.addr))

    async def _run(self, open_outbound: Callable[[], object]) -> None:
        try:
            outbound: UdpOutbound = await open_outbound()  # type: ignore[misc]
        except Exception as exc:
            log.info("event=udp_open_failed session=%d error=%s", self.session_id, exc)
            return
        reader = asyncio.ensure_future(self._replies(outbound))
        try:
            while True:
                data, addr = await self._queue.get()
                try:
                    await outbound.send(data, addr)
                except Exception as exc:
                    log.debug("event=udp_send_failed session=%d addr=%s error=%s", self.session_id, addr, exc)
        finally:
            reader.cancel()
            outbound.close()

    async def _replies(self, outbound: UdpOutbound) -> None:
        try:
            while True:
                data, addr = await outbound.recv()
                self.last_active = self.conn.loop.time()
                send_message(self.conn, self.session_id, data, addr)
        except Exception as exc:
            log.debug("event=udp_recv_ended session=%d error=%s", self.session_id, exc)

    def close(self) -> None:
        self._task.cancel()
