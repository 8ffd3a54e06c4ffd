"""UDP through the mesh: direct sockets, frame16-over-stream relays, hy2 datagram sessions."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from hy2scale.relay import wire
from hy2scale.relay.addresses import UDP_PREFIX, join_host_port, split_host_port
from hy2scale.relay.streamio import close_quietly, read_frame16
from hy2scale.streams import ByteStream

log = logging.getLogger("hy2scale.relay.udp")

UDP_IDLE = 30.0
UDP_DIAL_TIMEOUT = 5.0
_QUEUE = 256
# A StreamUdp opens one relay stream per destination of a user's datagrams: without a cap a user
# sending to many addresses (a scan, a DHT) would hold a stream and a reader task here, and a
# socket on the exit, for each until the session ends. The least recently used one goes first.
MAX_DESTINATIONS = 256


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[bytes, tuple[Any, ...]] | None] = asyncio.Queue(_QUEUE)

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        # A full queue drops the datagram, as a congested UDP path would.
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait((data, addr))

    def connection_lost(self, exc: Exception | None) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(None)


class DirectUdp:
    """A UDP session leaving from this node; ``addr`` strings are ``host:port``."""

    def __init__(self) -> None:
        self._transports: dict[int, asyncio.DatagramTransport] = {}
        self._proto = _Datagrams()
        self._closed = False

    async def _transport(self, family: int) -> asyncio.DatagramTransport:
        tr = self._transports.get(family)
        if tr is None:
            loop = asyncio.get_running_loop()
            local = ("::", 0) if family == 10 else ("0.0.0.0", 0)
            tr, _ = await loop.create_datagram_endpoint(lambda: self._proto, local_addr=local)
            self._transports[family] = tr
        return tr

    async def send(self, data: bytes, addr: str) -> None:
        host, port = split_host_port(addr)
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=2)
        if not infos:
            raise OSError(f"cannot resolve {host}")
        family, _, _, _, sockaddr = infos[0]
        (await self._transport(family)).sendto(data, sockaddr)

    async def recv(self) -> tuple[bytes, str]:
        item = await self._proto.queue.get()
        if item is None:
            raise EOFError("udp session closed")
        data, addr = item
        return data, join_host_port(addr[0], addr[1])

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            for tr in self._transports.values():
                tr.close()
            with contextlib.suppress(asyncio.QueueFull):
                self._proto.queue.put_nowait(None)


async def serve_udp_stream(stream: ByteStream, target: str) -> None:
    """Relay frame16 datagrams on ``stream`` to and from one UDP ``target`` (reverse/via UDP)."""
    host, port = split_host_port(target)
    loop = asyncio.get_running_loop()
    try:
        transport, proto = await asyncio.wait_for(
            loop.create_datagram_endpoint(_Datagrams, remote_addr=(host, port)), UDP_DIAL_TIMEOUT
        )
    except (OSError, TimeoutError) as exc:
        log.info("event=udp_dial_failed target=%s error=%s", target, exc)
        await close_quietly(stream)
        return

    async def upstream() -> None:
        while (payload := await read_frame16(stream)) is not None:
            transport.sendto(payload)

    async def downstream() -> None:
        while True:
            item = await asyncio.wait_for(proto.queue.get(), UDP_IDLE)
            if item is None:
                return
            stream.write(wire.encode_frame16(item[0]))
            await stream.drain()

    tasks = [asyncio.ensure_future(upstream()), asyncio.ensure_future(downstream())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        transport.close()
        await close_quietly(stream)


class StreamUdp:
    """A UDP session carried as one frame16 stream per destination (``udp:<addr>`` streams)."""

    def __init__(self, opener: Callable[[str], Awaitable[ByteStream]]) -> None:
        self._open = opener
        self._streams: dict[str, ByteStream] = {}
        self._readers: list[asyncio.Task[None]] = []
        self._queue: asyncio.Queue[tuple[bytes, str] | None] = asyncio.Queue(_QUEUE)
        self._lock = asyncio.Lock()

    async def _stream(self, addr: str) -> ByteStream:
        async with self._lock:
            stream = self._streams.pop(addr, None)
            if stream is None:
                if len(self._streams) >= MAX_DESTINATIONS:
                    self._streams.pop(next(iter(self._streams))).close()
                stream = await self._open(UDP_PREFIX + addr)
                self._readers = [t for t in self._readers if not t.done()]
                self._readers.append(asyncio.ensure_future(self._read(addr, stream)))
            self._streams[addr] = stream  # re-inserted: dict order is least recently used first
            return stream

    async def _read(self, addr: str, stream: ByteStream) -> None:
        with contextlib.suppress(Exception):
            while (payload := await read_frame16(stream)) is not None:
                with contextlib.suppress(asyncio.QueueFull):
                    self._queue.put_nowait((payload, addr))
        if self._streams.get(addr) is stream:
            del self._streams[addr]

    async def send(self, data: bytes, addr: str) -> None:
        stream = await self._stream(addr)
        stream.write(wire.encode_frame16(data))
        await stream.drain()

    async def recv(self) -> tuple[bytes, str]:
        item = await self._queue.get()
        if item is None:
            raise EOFError("udp session closed")
        return item

    def close(self) -> None:
        for task in self._readers:
            task.cancel()
        for stream in self._streams.values():
            stream.close()
        self._streams.clear()
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)


class ClientUdp:
    """Adapts a Hysteria 2 client UDP session (datagrams) to the UdpOutbound shape."""

    def __init__(self, session: Any) -> None:
        self._session = session
        self._closing: asyncio.Task[Any] | None = None

    async def send(self, data: bytes, addr: str) -> None:
        result = self._session.send(data, addr)
        if inspect.isawaitable(result):
            await result

    async def recv(self) -> tuple[bytes, str]:
        data, addr = await self._session.recv()
        return data, addr

    def close(self) -> None:
        result = self._session.close()
        if inspect.isawaitable(result):
            self._closing = asyncio.ensure_future(result)
