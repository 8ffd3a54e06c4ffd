"""An in-process stand-in for a Hysteria 2 client connected to a server handler.

It drives a hy2 server handler (authenticate / handle_tcp / open_udp / on_disconnect) exactly as
`Hy2Server` does, but over :func:`memory_pair` streams instead of QUIC, so relay nodes can be
wired together in one process. Used by the relay tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from typing import Any

from hy2scale.hysteria.config import ClientConfig
from hy2scale.hysteria.errors import AuthError, ClosedError, ConnectError, DialError
from hy2scale.relay.memstream import MemoryStream, memory_pair

_ports = itertools.count(40000)


class _Request:
    def __init__(self, stream: MemoryStream, auth_id: str, addr: str, remote: tuple[str, int]) -> None:
        self._stream = stream
        self.auth_id = auth_id
        self.addr = addr
        self.remote = remote
        self.answer: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()

    async def accept(self) -> MemoryStream:
        self.answer.set_result(None)
        return self._stream

    async def reject(self, message: str) -> None:
        self.answer.set_result(message)
        self._stream.close()


class MemoryNetwork:
    """A registry of in-process "servers" addressed as ``host:port`` strings."""

    def __init__(self) -> None:
        self.servers: dict[str, Any] = {}

    def serve(self, addr: str, handler: Any) -> None:
        self.servers[addr] = handler

    def unserve(self, addr: str) -> None:
        self.servers.pop(addr, None)

    def client(self, config: ClientConfig) -> MemoryClient:
        return MemoryClient(self, config)


class MemoryClient:
    """The `Hy2Client` surface the relay uses: connect, tcp, udp, closed, close, rtt."""

    def __init__(self, net: MemoryNetwork, config: ClientConfig) -> None:
        self._net = net
        self._config = config
        self._handler: Any = None
        self._auth_id = ""
        self._remote = ("127.0.0.1", next(_ports))
        self._streams: list[MemoryStream] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self.closed = asyncio.Event()
        self.rtt = 0.001

    async def connect(self) -> None:
        handler = self._net.servers.get(f"{self._config.server}:{self._config.ports}")
        if handler is None:
            raise ConnectError("no server at that address")
        auth_id = await handler.authenticate(self._remote, self._config.password, 0)
        if auth_id is None:
            raise AuthError(404)
        self._handler, self._auth_id = handler, auth_id

    def _alive(self) -> Any:
        key = f"{self._config.server}:{self._config.ports}"
        if self.closed.is_set() or self._handler is None or self._net.servers.get(key) is not self._handler:
            self._shutdown()
            raise ClosedError("connection closed")
        return self._handler

    async def tcp(self, addr: str) -> MemoryStream:
        handler = self._alive()
        ours, theirs = memory_pair()
        self._streams += [ours, theirs]
        request = _Request(theirs, self._auth_id, addr, self._remote)
        task = asyncio.ensure_future(handler.handle_tcp(request))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        await asyncio.wait({request.answer, task}, return_when=asyncio.FIRST_COMPLETED)
        if not request.answer.done():
            raise DialError("server closed the request")
        message = request.answer.result()
        if message is not None:
            raise DialError(message)
        return ours

    async def udp(self) -> Any:
        return await self._alive().open_udp(self._auth_id)

    def _shutdown(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        for stream in self._streams:
            stream.close()
        for task in self._tasks:
            task.cancel()
        if self._handler is not None:
            with contextlib.suppress(Exception):
                self._handler.on_disconnect(self._auth_id, self._remote)

    async def close(self) -> None:
        self._shutdown()
