"""Direct exits: the `exits` interface of relay/exits.py for a node without a mesh (and for tests).

Every service dials through an object with ``open_tcp(route, host, port)`` and ``open_udp(route)``;
this one ignores the route and dials from this node, with the relay's own direct UDP session.
"""

from __future__ import annotations

from typing import Protocol

from hy2scale.relay.addresses import join_host_port as join_addr
from hy2scale.relay.addresses import split_host_port as split_addr
from hy2scale.relay.exits import ExitRoute
from hy2scale.relay.peers import UdpOutbound
from hy2scale.relay.udp import DirectUdp
from hy2scale.streams import ByteStream, open_tcp

DIAL_TIMEOUT = 10.0

__all__ = ["DirectExits", "ExitRoute", "Exits", "UdpOutbound", "join_addr", "split_addr"]


class Exits(Protocol):
    async def open_tcp(self, route: ExitRoute, host: str, port: int) -> ByteStream: ...

    async def open_udp(self, route: ExitRoute) -> UdpOutbound: ...


class DirectExits:
    async def open_tcp(self, route: ExitRoute, host: str, port: int) -> ByteStream:
        return await open_tcp(host, port, timeout=DIAL_TIMEOUT)

    async def open_udp(self, route: ExitRoute) -> UdpOutbound:
        return DirectUdp()
