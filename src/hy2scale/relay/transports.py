"""How streams are opened on a peer: through our hy2 client (outbound) or its ctrl (inbound)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hy2scale.hysteria.errors import Hy2Error
from hy2scale.relay.mesh import RelayError
from hy2scale.relay.peers import UdpOutbound
from hy2scale.relay.udp import ClientUdp, StreamUdp
from hy2scale.streams import ByteStream

if TYPE_CHECKING:
    from hy2scale.relay.mesh import Mesh
    from hy2scale.relay.peers import Peer


class ClientTransport:
    """Outbound peer: every stream is a new hy2 TCP request on our client."""

    def __init__(self, client: Any) -> None:
        self.client = client

    async def open(self, addr: str) -> ByteStream:
        try:
            return await self.client.tcp(addr)
        except Hy2Error as exc:
            raise RelayError(str(exc)) from exc

    async def open_udp(self) -> UdpOutbound:
        return ClientUdp(await self.client.udp())


class CtrlTransport:
    """Inbound peer: we can only ask it, over its ctrl channel, to open streams back to us."""

    def __init__(self, mesh: Mesh, peer: Peer) -> None:
        self.mesh = mesh
        self.peer = peer

    async def open(self, addr: str) -> ByteStream:
        return await self.mesh.ctrl_request(self.peer, addr)

    async def open_udp(self) -> UdpOutbound:
        return StreamUdp(self.open)
