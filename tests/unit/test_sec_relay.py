"""Security review of the relay trust boundary: users never reach relay streams, one peer cannot
take over a reverse-dial stream meant for another, and a user's UDP cannot open unbounded streams."""

from __future__ import annotations

import asyncio
import json

import pytest

from hy2scale.relay import addresses as A
from hy2scale.relay import bond, wire
from hy2scale.relay import udp as relay_udp
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
        bond.PREFIX + "abc:0",
    ],
)
async def test_user_connections_cannot_open_relay_streams(addr: str) -> None:
    mesh = Mesh("srv", "5e5e5e5e")
    handler = InboundHandler(
        mesh, ExitDialer(mesh), lambda: {"password": "node-secret", "hy2_user_auth": True}
    )
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
        assert await asyncio.wait_for(thief_ours.read(1), 5) == b""
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


async def test_udp_over_streams_caps_destinations_per_session(monkeypatch: pytest.MonkeyPatch) -> None:
    """A user's datagrams to many addresses keep at most MAX_DESTINATIONS relay streams open."""
    monkeypatch.setattr(relay_udp, "MAX_DESTINATIONS", 4)
    far_ends: dict[str, MemoryStream] = {}

    async def opener(addr: str) -> MemoryStream:
        ours, theirs = memory_pair()
        far_ends[addr] = theirs
        return ours

    session = relay_udp.StreamUdp(opener)
    try:
        for i in range(10):
            await session.send(b"x", f"10.0.0.{i}:53")
        await session.send(b"y", "10.0.0.6:53")  # reused, and now the most recently used
        await session.send(b"z", "10.0.0.99:53")  # evicts the least recently used: .7
        assert len(far_ends) == 11
        assert set(session._streams) == {"10.0.0.8:53", "10.0.0.9:53", "10.0.0.6:53", "10.0.0.99:53"}
        # Evicted streams were closed: their far ends see the frames, then EOF.
        evicted = far_ends["udp:10.0.0.7:53"]
        assert await asyncio.wait_for(evicted.readexactly(3), 5) == wire.encode_frame16(b"x")
        assert await asyncio.wait_for(evicted.read(1), 5) == b""
    finally:
        session.close()


async def test_bond_reorder_buffer_is_bounded_when_the_target_stalls(monkeypatch: pytest.MonkeyPatch) -> None:
    """A peer pushing a bond faster than its target reads: legs stop reading instead of buffering."""
    monkeypatch.setattr(bond, "MAX_BUFFERED", 256 * 1024)
    held: list[asyncio.StreamWriter] = []

    async def never_reads(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    target = await asyncio.start_server(never_reads, "127.0.0.1", 0)
    port = target.sockets[0].getsockname()[1]
    registry = bond.BondRegistry()
    ours, theirs = memory_pair()
    serving = asyncio.ensure_future(registry.handle_leg(f"_bond_3_127.0.0.1:{port}", theirs))
    try:
        ours.write(bond.encode_frame(3, bond.SEQ_SETUP, (0).to_bytes(2, "big")))
        chunk = b"u" * bond.CHUNK
        for seq in range(1, 1025):  # 32 MiB: more than loopback socket buffers take
            ours.write(bond.encode_frame(3, seq, chunk))
        session = None
        for _ in range(500):
            session = registry.sessions.get((3, f"127.0.0.1:{port}"))
            if session is not None and session.next_seq > 1 and session.buffered > 128 * 1024:
                break
            await asyncio.sleep(0.01)
        assert session is not None
        highest = 0
        for _ in range(50):
            highest = max(highest, session.buffered)
            await asyncio.sleep(0.01)
        assert 0 < highest <= bond.MAX_BUFFERED + bond.CHUNK
        assert session.next_seq < 1024  # the target really is the bottleneck
    finally:
        # The stalled target goes first: our side's close waits for its unsent bytes otherwise.
        for writer in held:
            writer.transport.abort()
        ours.close()
        serving.cancel()
        await asyncio.wait_for(asyncio.gather(serving, return_exceptions=True), 10)
        sessions = list(registry.sessions.values())
        await asyncio.wait_for(asyncio.gather(*(s.close() for s in sessions), return_exceptions=True), 10)
        target.close()
        await target.wait_closed()
