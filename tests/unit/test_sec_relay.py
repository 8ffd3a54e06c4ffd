"""Security review of the relay trust boundary: users never reach relay streams, and one peer
cannot take over a reverse-dial stream meant for another."""

from __future__ import annotations

import asyncio
import json

import pytest

from hy2scale.relay import addresses as A
from hy2scale.relay import wire
from hy2scale.relay.bond import PREFIX as BOND_PREFIX
from hy2scale.relay.exits import ExitDialer
from hy2scale.relay.handlers import handle_stream
from hy2scale.relay.inbound import InboundHandler
from hy2scale.relay.memstream import MemoryStream, memory_pair
from hy2scale.relay.mesh import Mesh, StreamContext

META = {"v": "1.3.4", "pv": 3}


class _Request:
    """What the hy2 server hands the handler for one client stream (docs/internals.md)."""

    def __init__(self, auth_id: str, addr: str) -> None:
        self.ours, self._theirs = memory_pair()
        self.auth_id = auth_id
        self.addr = addr
        self.remote = ("127.0.0.1", 40999)
        self.answer: str | None = None
        self.accepted = False

    async def accept(self) -> MemoryStream:
        self.accepted = True
        return self._theirs

    async def reject(self, message: str) -> None:
        self.answer = message
        self._theirs.close()


async def _read_str16(stream) -> str:
    n = int.from_bytes(await stream.readexactly(2), "big")
    return (await stream.readexactly(n)).decode()


async def _register(mesh: Mesh, name: str, conn: str) -> asyncio.Task:
    ours, theirs = memory_pair()
    task = asyncio.ensure_future(handle_stream(mesh, A.REGISTER, theirs, StreamContext(conn_key=conn)))
    ours.write(bytes([wire.FLAG_META]) + wire.encode_str16(name))
    await _read_str16(ours)
    n = int.from_bytes(await ours.readexactly(2), "big")
    json.loads(await ours.readexactly(n))
    ours.write(wire.encode_meta16({**META, "id": name}))
    for _ in range(500):
        if mesh.peers.get(name) is not None:
            return task
        await asyncio.sleep(0.01)
    raise AssertionError(f"{name} did not register")


@pytest.mark.parametrize(
    "addr",
    [
        A.API,
        A.REGISTER,
        A.CTRL,
        A.LIST_PEERS,
        "_relay_via_b_127.0.0.1:22:0",
        "_relay_data_1:0",
        "[_relay_api_]:0",
        A.API + "#bridge=sb_1_2",
        "udp:127.0.0.1:53",
        BOND_PREFIX + "abc:0",
    ],
)
async def test_user_connections_cannot_open_relay_streams(addr: str) -> None:
    mesh = Mesh("srv", "5e5e5e5e")
    handler = InboundHandler(mesh, ExitDialer(mesh), lambda: {"password": "node-secret", "hy2_user_auth": True})
    request = _Request("user:alice:1", addr)
    await handler.handle_tcp(request)
    assert not request.accepted
    assert request.answer == "relay streams need the node password"


async def test_a_peer_cannot_answer_a_reverse_request_sent_to_another_peer() -> None:
    mesh = Mesh("srv", "5e5e5e5e")
    tasks = [await _register(mesh, "c", "conn-c"), await _register(mesh, "b", "conn-b")]
    ctrl, theirs = memory_pair()
    tasks.append(asyncio.ensure_future(handle_stream(mesh, A.CTRL, theirs, StreamContext(conn_key="conn-c"))))
    ctrl.write(wire.encode_str16("c"))
    try:
        opened = asyncio.ensure_future(mesh.ctrl_request(mesh.peers.get("c"), "10.0.0.1:22"))
        req_id = await _read_str16(ctrl)
        assert await _read_str16(ctrl) == "10.0.0.1:22"

        # Peer b (also holding the server password) guesses the sequential id: refused, closed.
        thief_ours, thief_theirs = memory_pair()
        await handle_stream(mesh, A.data_address(req_id), thief_theirs, StreamContext(conn_key="conn-b"))
        assert await thief_ours.read(1) == b""
        assert not opened.done()

        # The peer the request went to still gets it.
        data_ours, data_theirs = memory_pair()
        await handle_stream(mesh, A.data_address(req_id), data_theirs, StreamContext(conn_key="conn-c"))
        stream = await asyncio.wait_for(opened, 5)
        data_ours.write(b"banner")
        assert await stream.readexactly(6) == b"banner"
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
