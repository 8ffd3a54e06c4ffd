"""Our dialer role against a hand-written peer that speaks pv=3 exactly as the spec's Go server
does (relay spec §3.1, §4): the bytes we send, in order, and how we serve its ctrl requests."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from hy2scale.relay import addresses as A
from hy2scale.relay import wire
from hy2scale.relay.links import PeerLink
from hy2scale.relay.memlink import MemoryNetwork
from hy2scale.relay.mesh import Mesh


async def _str16(stream: Any) -> str:
    n = int.from_bytes(await stream.readexactly(2), "big")
    return (await stream.readexactly(n)).decode()


class GoLikeServer:
    """Records what the dialer sends and asks it for one reverse ping over ctrl."""

    def __init__(self) -> None:
        self.flags = -1
        self.client_name = ""
        self.client_meta: dict[str, Any] = {}
        self.ctrl_name = ""
        self.data_reply = b""
        self.latency: tuple[str, int] | None = None
        self.done = asyncio.Event()
        self._data = asyncio.get_running_loop().create_future()

    async def authenticate(self, remote: Any, auth: str, rx: int) -> str | None:
        return "system" if auth == "pw" else None

    async def handle_tcp(self, request: Any) -> None:
        stream = await request.accept()
        if request.addr == A.REGISTER:
            self.flags = (await stream.readexactly(1))[0]
            self.client_name = await _str16(stream)
            stream.write(wire.encode_str16("gosrv") + wire.encode_meta16({"v": "1.3.4", "pv": 3, "id": "99"}))
            n = int.from_bytes(await stream.readexactly(2), "big")
            self.client_meta = json.loads(await stream.readexactly(n))
            await stream.read(1)  # the register stream stays silent until the session ends
        elif request.addr == A.CTRL:
            self.ctrl_name = await _str16(stream)
            stream.write(wire.encode_request("1", A.PING))
            data = await asyncio.wait_for(self._data, 5)
            self.data_reply = await data.read(10)
            self.done.set()
            await stream.read(1)
        elif request.addr == A.data_address("1"):
            self._data.set_result(stream)
            await asyncio.sleep(1)
        elif request.addr == A.LATENCY:
            self.latency = (await _str16(stream), int.from_bytes(await stream.readexactly(2), "big"))
        elif request.addr == A.PING:
            stream.write(b"\x01")
        stream.close()

    def on_disconnect(self, auth_id: str, remote: Any) -> None:
        return None


async def test_dialer_bytes_and_reverse_request() -> None:
    net = MemoryNetwork()
    server = GoLikeServer()
    net.serve("go:1", server)
    mesh = Mesh("pyside", "12345678", exit_node=True)
    link = PeerLink(mesh, {"name": "configured", "addr": "go:1", "password": "pw"}, factory=net.client)
    link.start()
    try:
        await asyncio.wait_for(server.done.wait(), 5)
        assert server.flags == wire.FLAG_META | wire.FLAG_EXIT
        assert server.client_name == "pyside" and server.ctrl_name == "pyside"
        assert server.client_meta["v"] == "1.3.4" and server.client_meta["pv"] == 3
        assert server.client_meta["id"] == "12345678"
        # The reverse request for `_relay_ping_` was served locally on `_relay_data_1:0`.
        assert server.data_reply == b"\x01"
        # The remote's own name replaces the configured hint.
        peer = mesh.peers.get("gosrv")
        assert peer is not None and peer.node_id == "99" and link.name == "gosrv"
    finally:
        await link.stop()
    assert mesh.peers.get("gosrv") is None
