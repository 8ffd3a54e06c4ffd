"""Relay managers wired in one process through in-memory hy2 links (relay/memlink.py).

Each node has a real store; only QUIC is replaced, so registration, ctrl, via, discovery,
exits and health run exactly as between real nodes. Targets are real sockets on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from hy2scale.bus import ChangeBus
from hy2scale.relay import discovery
from hy2scale.relay.exits import ExitError, ExitRoute
from hy2scale.relay.manager import RelayManager
from hy2scale.relay.memlink import MemoryNetwork
from hy2scale.relay.mesh import RelayError
from hy2scale.relay.prober import probe
from hy2scale.store import Store

PASSWORD = "peer-secret-1"


class Net:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.mem = MemoryNetwork()
        self.nodes: dict[str, RelayManager] = {}

    def node(self, name: str, *, nested: tuple[str, ...] = ()) -> RelayManager:
        (self.tmp / name).mkdir()
        store = Store.open(self.tmp / name)
        store.sections.put("node", {"node_id": f"id-{name}", "name": name, "exit_node": True})
        store.sections.put("server", {"listen": f"{name}:1", "password": PASSWORD})
        for path in nested:
            store.peer_flags.create({"path": path, "nested": True, "disabled": False})
        node = SimpleNamespace(store=store, bus=ChangeBus(), accounts=None, app=None)
        mgr = RelayManager(node, client_factory=self.mem.client)
        self.mem.serve(f"{name}:1", mgr.inbound)
        self.nodes[name] = mgr
        return mgr

    async def link(self, src: str, dst: str) -> None:
        mgr = self.nodes[src]
        mgr.store.clients.create({"name": dst, "addr": f"{dst}:1", "password": PASSWORD, "insecure": True})
        await mgr.node.bus.publish("clients")

    async def close(self) -> None:
        for mgr in self.nodes.values():
            await mgr.stop()
            mgr.store.close()


async def until(cond: Any, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


@pytest.fixture
async def net(tmp_path: Path) -> AsyncIterator[Net]:
    n = Net(tmp_path)
    yield n
    await n.close()


class Echo:
    """A TCP echo server that remembers every peer address it served."""

    def __init__(self, on_connect: Any = None) -> None:
        self.seen: list[tuple[str, int]] = []
        self.server: asyncio.Server | None = None
        self.on_connect = on_connect

    async def start(self) -> int:
        async def serve(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            self.seen.append(w.get_extra_info("peername"))
            if self.on_connect is not None:
                self.on_connect(w.get_extra_info("peername"))
            with contextlib.suppress(ConnectionError):
                while data := await r.read(65536):
                    w.write(data)
                    await w.drain()
            w.close()

        self.server = await asyncio.start_server(serve, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    def close(self) -> None:
        if self.server is not None:
            self.server.close()


async def roundtrip(stream: Any, payload: bytes) -> bytes:
    stream.write(payload)
    await stream.drain()
    got = b""
    while len(got) < len(payload):
        chunk = await asyncio.wait_for(stream.read(65536), 5)
        if not chunk:
            break
        got += chunk
    stream.close()
    return got


async def chain(net: Net) -> tuple[RelayManager, RelayManager, RelayManager]:
    """A dials B; C dials B (so B reaches C only through C's ctrl); A has B nested."""
    a, b, c = net.node("a", nested=("b",)), net.node("b"), net.node("c")
    for mgr in (a, b, c):
        await mgr.start()
    await net.link("a", "b")
    await net.link("c", "b")
    await until(lambda: b.mesh.peers.get("a") and b.mesh.peers.get("c") and a.mesh.peers.get("b"))
    await until(lambda: b.mesh.peers.get("c").ctrl is not None)
    return a, b, c


async def test_register_both_roles(net: Net) -> None:
    a, b, _c = await chain(net)
    out, inn = a.mesh.peers.get("b"), b.mesh.peers.get("a")
    assert out.direction == "outbound" and inn.direction == "inbound"
    assert (
        out.meta.version == "1.3.4" and out.meta.node_id == "id-b" and out.meta.impl.startswith("hy2scale-py")
    )
    assert inn.meta.node_id == "id-a" and inn.exit_node
    assert not out.incompatible and not inn.incompatible


async def test_via_chain_reaches_target_through_reverse_hop(net: Net) -> None:
    a, b, _c = await chain(net)
    echo = Echo()
    port = await echo.start()
    try:
        stream = await a.exits.open_tcp(ExitRoute(exit_via="b/c"), "127.0.0.1", port)
        assert await roundtrip(stream, b"hello mesh" * 100) == b"hello mesh" * 100
        assert a.active_paths() == {"b/c": "b/c"}
        # Reverse routing: B reached C (inbound to B) only through C's ctrl channel.
        stream = await b.exits.open_tcp(ExitRoute(exit_via="c"), "127.0.0.1", port)
        assert await roundtrip(stream, b"x") == b"x"
        await until(lambda: a.stats()["tx_bytes"] >= 1000)
        assert a.mesh.paths["b/c"].tx >= 1000
    finally:
        echo.close()


async def test_nested_discovery_and_topology(net: Net) -> None:
    a, _b, _c = await chain(net)
    await discovery.refresh(a.mesh)
    topo = a.topology()
    assert topo[0]["is_self"] and topo[0]["name"] == "id-a"
    b_node = next(n for n in topo if n["name"] == "b")
    assert b_node["connected"] and b_node["nested"] and b_node["direction"] == "outbound"
    assert [ch["name"] for ch in b_node["children"]] == ["c"]
    assert b_node["children"][0]["via"] == "b"
    # 'a' itself is a peer of b; the rule "no name twice on a path" drops it.
    assert all(ch["name"] != "a" for ch in b_node["children"])
    listed = await a.nested_peers("b")
    assert {p["name"] for p in listed} == {"a", "c"}
    b_topo = _b.topology()
    assert {ch["name"] for ch in b_topo[0]["children"]} == {"a", "c"}


async def test_nested_off_and_loops_refused(net: Net) -> None:
    a, _b, c = await chain(net)
    with pytest.raises(ExitError, match="nested discovery is off for 'b'"):
        await c.exits.open_tcp(ExitRoute(exit_via="b/a"), "127.0.0.1", 9)
    with pytest.raises(ExitError, match="loops"):
        await a.exits.open_tcp(ExitRoute(exit_via="b/a"), "127.0.0.1", 9)
    with pytest.raises(ExitError, match="loops"):
        await a.exits.open_tcp(ExitRoute(exit_via="b/c/b"), "127.0.0.1", 9)


async def test_failover_pair_survives_first_path_down(net: Net) -> None:
    a, _b, _c = await chain(net)
    echo = Echo()
    port = await echo.start()
    try:
        route = ExitRoute(exit_via="zz", exit_paths=("zz", "b"))
        stream = await a.exits.open_tcp(route, "127.0.0.1", port)
        assert await roundtrip(stream, b"failover") == b"failover"
        assert a.active_paths()["zz"] == "b"
        # The first path's first hop is up but the hop after it is not: B closes the via
        # stream at once, and the race moves on to the next path.
        route = ExitRoute(exit_via="b/zz", exit_paths=("b/zz", "b/c"))
        stream = await a.exits.open_tcp(route, "127.0.0.1", port)
        assert await roundtrip(stream, b"second") == b"second"
        assert a.active_paths()["b/zz"] == "b/c"
    finally:
        echo.close()


async def test_disable_client_closes_link_and_refuses_name(net: Net) -> None:
    _a, b, _c = await chain(net)
    b.store.clients.create({"name": "c", "addr": "c:1", "password": PASSWORD, "disabled": True})
    await b.node.bus.publish("clients")
    await until(lambda: b.mesh.peers.get("c") is None)
    # C keeps retrying; B refuses the name every time.
    await asyncio.sleep(1.5)
    assert b.mesh.peers.get("c") is None
    with pytest.raises(ExitError, match="disabled"):
        await b.exits.open_tcp(ExitRoute(exit_via="c"), "127.0.0.1", 9)
    b.store.clients.update("c", {"disabled": False})
    await b.node.bus.publish("clients")
    await until(lambda: b.mesh.peers.get("c") is not None, timeout=15)


async def test_udp_one_hop_and_reverse(net: Net) -> None:
    a, b, _c = await chain(net)
    loop = asyncio.get_running_loop()

    class EchoUdp(asyncio.DatagramProtocol):
        def connection_made(self, transport: Any) -> None:
            self.t = transport

        def datagram_received(self, data: bytes, addr: Any) -> None:
            self.t.sendto(data.upper(), addr)

    transport, _ = await loop.create_datagram_endpoint(EchoUdp, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    try:
        for mgr, via in ((a, "b"), (b, "c"), (a, "b/c")):
            session = await mgr.exits.open_udp(ExitRoute(exit_via=via))
            await session.send(b"ping", f"127.0.0.1:{port}")
            data, addr = await asyncio.wait_for(session.recv(), 5)
            assert (data, addr) == (b"PING", f"127.0.0.1:{port}")
            session.close()
    finally:
        transport.close()


async def test_prober_marks_dead_peer_and_link_recovers(net: Net) -> None:
    a, b, _c = await chain(net)
    net.mem.unserve("b:1")
    peer = a.mesh.peers.get("b")
    for _ in range(3):
        await probe(a.mesh, peer)
    assert a.mesh.peers.get("b") is None
    net.mem.serve("b:1", b.inbound)
    await until(lambda: a.mesh.peers.get("b") is not None, timeout=15)


async def test_rename_follows_remote_name(net: Net) -> None:
    a = net.node("a")
    b = net.node("b")
    await a.start()
    await b.start()
    a.store.clients.create({"name": "wrong", "addr": "b:1", "password": PASSWORD})
    a.store.peer_flags.create({"path": "wrong", "nested": True, "disabled": False})
    a.store.users.create(
        {
            "id": "u1",
            "username": "u",
            "password": "p",
            "exit_via": "wrong/x",
            "exit_paths": ["wrong/x", "wrongish"],
        }
    )
    users_reloaded: list[str] = []
    a.node.bus.subscribe("users", users_reloaded.append)
    await a.node.bus.publish("clients")
    await until(lambda: a.mesh.peers.get("b") is not None)
    assert a.store.clients.get("b") is not None and a.store.clients.get("wrong") is None
    assert a.mesh.flag("b", "nested")
    user = a.store.users.get("u1")
    assert user["exit_via"] == "b/x" and user["exit_paths"] == ["b/x", "wrongish"]
    assert users_reloaded == ["users"]


async def test_relay_streams_refused_for_wrong_password(net: Net) -> None:
    a, b = net.node("a"), net.node("b")
    await a.start()
    await b.start()
    a.store.clients.create({"name": "b", "addr": "b:1", "password": "wrong-password"})
    await a.node.bus.publish("clients")
    await asyncio.sleep(0.3)
    assert a.mesh.peers.get("b") is None and b.mesh.peers.get("a") is None
    assert "authentication" in a.links["b:1"].last_error
    assert a.link_status()[0]["addr"] == "b:1" and "authentication" in a.link_status()[0]["last_error"]


async def _api_get(stream: Any) -> bytes:
    stream.write(b"GET /scale/api/node HTTP/1.1\r\nHost: 127.0.0.1:5565\r\nConnection: close\r\n\r\n")
    await stream.drain()
    reply = b""
    while chunk := await asyncio.wait_for(stream.read(65536), 5):
        reply += chunk
    assert reply.startswith(b"HTTP/1.1 200")
    return reply


async def test_remote_api_tunnel(net: Net) -> None:
    a, b, c = await chain(net)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        body = f"auth={scope['hy2scale.relay_auth']} {scope['path']}".encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", b"%d" % len(body))],
            }
        )
        await send({"type": "http.response.body", "body": body})

    b.node.app = c.node.app = app
    # C dialed B with B's password: B serves it as "system" (admin passthrough may apply).
    assert (await _api_get(await c.open_api("b"))).endswith(b"auth=system /scale/api/node")
    # B reaches C only in reverse over C's ctrl; B never proved it holds C's password.
    assert (await _api_get(await a.open_api("b/c"))).endswith(b"auth= /scale/api/node")
    with pytest.raises(RelayError, match="nested discovery is off"):
        await c.open_api("b/a")


async def test_quality_mode_prefers_measured_latency(net: Net) -> None:
    a, x, y = net.node("a"), net.node("x"), net.node("y")
    for mgr in (a, x, y):
        await mgr.start()
    await net.link("a", "x")
    await net.link("a", "y")
    await until(lambda: a.mesh.peers.get("x") and a.mesh.peers.get("y"))
    a.mesh.peers.get("x").stats.set_latency(400)
    a.mesh.peers.get("y").stats.set_latency(5)
    echo = Echo()
    port = await echo.start()
    try:
        failover = ExitRoute(exit_via="x", exit_paths=("x", "y"))
        await roundtrip(await a.exits.open_tcp(failover, "127.0.0.1", port), b"1")
        assert a.active_paths()["x"] == "x"
        quality = ExitRoute(exit_via="x", exit_paths=("x", "y"), exit_mode="quality")
        await roundtrip(await a.exits.open_tcp(quality, "127.0.0.1", port), b"2")
        assert a.active_paths()["x"] == "y"
        # Recent failures count against a path: y disappears, quality falls back to x.
        net.mem.unserve("y:1")
        await y.stop()
        await until(lambda: a.mesh.peers.get("y") is None)
        await roundtrip(await a.exits.open_tcp(quality, "127.0.0.1", port), b"3")
        assert a.active_paths()["x"] == "x"
    finally:
        echo.close()


async def test_link_fails_over_to_next_address(net: Net) -> None:
    a, b = net.node("a"), net.node("b")
    await a.start()
    await b.start()
    a.store.clients.create({"name": "b", "addr": "dead:1", "addrs": ["dead:1", "b:1"], "password": PASSWORD})
    await a.node.bus.publish("clients")
    await until(lambda: a.mesh.peers.get("b") is not None)
    assert a.mesh.peers.get("b").addr == "b:1"
    assert next(n for n in a.topology() if n["name"] == "b")["addrs"] == ["dead:1", "b:1"]


async def test_block_inbound_only_peer_in_memory(net: Net) -> None:
    _a, b, _c = await chain(net)
    b.set_blocked("c", True)
    assert b.mesh.peers.get("c") is None
    await asyncio.sleep(1.5)  # C retries and is refused
    assert b.mesh.peers.get("c") is None
    b.set_blocked("c", False)
    await until(lambda: b.mesh.peers.get("c") is not None, timeout=15)


async def test_bond_legs_through_via_and_reverse_hop(net: Net) -> None:
    from hy2scale.relay import bond

    a, _b, _c = await chain(net)
    echo = Echo()
    port = await echo.start()
    try:
        addr = f"_bond_77_127.0.0.1:{port}"
        legs = [await a.mesh.dial_hops(["b", "c"], addr) for _ in range(2)]
        for index, leg in enumerate(legs):
            leg.write(bond.encode_frame(77, bond.SEQ_SETUP, index.to_bytes(2, "big")))
        legs[1].write(bond.encode_frame(77, 2, b"-two"))
        legs[0].write(bond.encode_frame(77, 1, b"one"))
        answer: dict[int, bytes] = {}

        async def collect(leg: Any) -> None:
            while (frame := await bond.read_frame(leg)) is not None:
                if frame[1] not in (bond.SEQ_KEEPALIVE, bond.SEQ_TEARDOWN):
                    answer[frame[1]] = frame[2]

        readers = [asyncio.ensure_future(collect(leg)) for leg in legs]
        # The answer comes back as frames on either leg, reassembled by sequence number.
        await until(lambda: b"".join(answer[s] for s in sorted(answer)) == b"one-two", 5)
        for leg in legs:
            leg.close()
        await asyncio.gather(*readers, return_exceptions=True)
    finally:
        echo.close()


async def test_aggregate_mode_bonds_over_two_paths(net: Net) -> None:
    a = net.node("a", nested=("x", "y"))
    x, y, z = net.node("x"), net.node("y"), net.node("z")
    for mgr in (a, x, y, z):
        await mgr.start()
    for src, dst in (("a", "x"), ("a", "y"), ("x", "z"), ("y", "z")):
        await net.link(src, dst)
    await until(lambda: all(m.mesh.peers.get(p) for m, p in ((a, "x"), (a, "y"), (x, "z"), (y, "z"))))
    echo = Echo()
    port = await echo.start()
    try:
        payload = bytes(range(256)) * 1200  # ~300 KB: ten 32 KiB chunks, spread over both legs
        route = ExitRoute(exit_via="x/z", exit_paths=("x/z", "y/z"), exit_mode="aggregate")
        stream = await a.exits.open_tcp(route, "127.0.0.1", port)
        assert await roundtrip(stream, payload) == payload
        assert a.mesh.paths["x/z"].tx > 0 and a.mesh.paths["y/z"].tx > 0
        assert len(echo.seen) == 1  # one target connection behind both legs
        # A bare exit name bonds over every discovered path to it.
        await discovery.refresh(a.mesh)
        stream = await a.exits.open_tcp(ExitRoute(exit_via="z", exit_mode="aggregate"), "127.0.0.1", port)
        assert await roundtrip(stream, b"bare") == b"bare"
        assert len(echo.seen) == 2
    finally:
        echo.close()
