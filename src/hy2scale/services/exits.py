"""Direct exits: the `exits` interface of relay/exits.py for a node without a mesh (and for tests).

Every service dials through an object with ``open_tcp(route, host, port)`` and ``open_udp(route)``;
this one ignores the route and dials from this node.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from typing import Protocol

from hy2scale.relay.exits import ExitRoute
from hy2scale.streams import ByteStream, open_tcp

DIAL_TIMEOUT = 10.0
UDP_QUEUE = 256


class UdpOutbound(Protocol):
    async def send(self, data: bytes, addr: str) -> None: ...

    async def recv(self) -> tuple[bytes, str]: ...

    def close(self) -> None: ...


class Exits(Protocol):
    async def open_tcp(self, route: ExitRoute, host: str, port: int) -> ByteStream: ...

    async def open_udp(self, route: ExitRoute) -> UdpOutbound: ...


def split_addr(addr: str) -> tuple[str, int]:
    """`host:port` or `[v6]:port` → (host, port)."""
    host, _, port = addr.rpartition(":")
    return host.strip("[]"), int(port)


def join_addr(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class _DatagramQueue(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[bytes, str]] = asyncio.Queue(UDP_QUEUE)
        self.closed = asyncio.Event()

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        # A full queue drops, as UDP would; a slow client must not grow memory.
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait((data, join_addr(addr[0], addr[1])))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed.set()


class DirectUdp:
    """One UDP socket per client session; replies from any target come back with their address."""

    def __init__(self) -> None:
        self._transports: dict[int, asyncio.DatagramTransport] = {}
        self._protocol = _DatagramQueue()

    async def _transport(self, family: int) -> asyncio.DatagramTransport:
        transport = self._transports.get(family)
        if transport is None:
            loop = asyncio.get_running_loop()
            local = ("::", 0) if family == socket.AF_INET6 else ("0.0.0.0", 0)
            transport, _ = await loop.create_datagram_endpoint(
                lambda: self._protocol, local_addr=local, family=family
            )
            self._transports[family] = transport
        return transport

    async def send(self, data: bytes, addr: str) -> None:
        host, port = split_addr(addr)
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_DGRAM)
            if not infos:
                return
            ip = ipaddress.ip_address(infos[0][4][0])
        family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
        (await self._transport(family)).sendto(data, (str(ip), port))

    async def recv(self) -> tuple[bytes, str]:
        return await self._protocol.queue.get()

    def close(self) -> None:
        for transport in self._transports.values():
            transport.close()
        self._transports.clear()


class DirectExits:
    async def open_tcp(self, route: ExitRoute, host: str, port: int) -> ByteStream:
        return await open_tcp(host, port, timeout=DIAL_TIMEOUT)

    async def open_udp(self, route: ExitRoute) -> UdpOutbound:
        return DirectUdp()
