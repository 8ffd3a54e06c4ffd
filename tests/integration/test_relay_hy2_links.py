"""Relay managers in one process linked by real Hysteria 2 (QUIC) servers and clients on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from hy2scale.accounts import Accounts
from hy2scale.bus import ChangeBus
from hy2scale.hysteria import AuthError, ClientConfig, DialError, Hy2Client, Hy2Server, ServerConfig
from hy2scale.hysteria.tls import self_signed
from hy2scale.relay import discovery
from hy2scale.relay.exits import ExitError, ExitRoute
from hy2scale.relay.manager import RelayManager
from hy2scale.store import Store
from tests.conftest import free_port
from tests.integration.test_relay_mesh_memory import Echo, roundtrip, until

PASSWORD = "peer-secret-2"


class Hy2Net:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.cert, self.key = self_signed("hy2scale")
        self.nodes: dict[str, tuple[RelayManager, Hy2Server, int]] = {}

    async def node(self, name: str, *, nested: tuple[str, ...] = (), users: bool = False) -> RelayManager:
        (self.tmp / name).mkdir()
        store = Store.open(self.tmp / name)
        port = free_port()
        store.sections.put(
            "node", {"node_id": f"id-{name}", "name": name, "exit_node": False, "hy2_user_auth": users}
        )
        store.sections.put("server", {"listen": f"127.0.0.1:{port}", "password": PASSWORD})
        for path in nested:
            store.peer_flags.create({"path": path, "nested": True, "disabled": False})
        node = SimpleNamespace(store=store, bus=ChangeBus(), accounts=None)
        if users:
            store.users.create(
                {
                    "id": "u1",
                    "username": "alice",
                    "password": "alice-pass",
                    "enabled": True,
                    "exit_via": "b/c",
                }
            )
            store.users.create(
                {"id": "u2", "username": "bob", "password": "bob-pass", "enabled": True, "exit_via": "b/a"}
            )
            store.users.create({"id": "u3", "username": "carol", "password": "carol-pass", "enabled": False})
            node.accounts = Accounts(node)
        mgr = RelayManager(node)
        server = Hy2Server(
            ServerConfig(listen=f"127.0.0.1:{port}", cert=self.cert, key=self.key), mgr.inbound
        )
        await server.start()
        await mgr.start()
        self.nodes[name] = (mgr, server, port)
        return mgr

    async def link(self, src: str, dst: str, backend: str = "aioquic") -> None:
        mgr = self.nodes[src][0]
        port = self.nodes[dst][2]
        mgr.store.clients.create(
            {
                "name": dst,
                "addr": f"127.0.0.1:{port}",
                "password": PASSWORD,
                "insecure": True,
                "quic_backend": backend,
            }
        )
        await mgr.node.bus.publish("clients")

    async def close(self) -> None:
        for mgr, server, _ in self.nodes.values():
            await mgr.stop()
            await server.stop()
            mgr.store.close()


@pytest.fixture
async def hnet(tmp_path: Path) -> AsyncIterator[Hy2Net]:
    n = Hy2Net(tmp_path)
    yield n
    await n.close()


async def _chain(hnet: Hy2Net, users: bool = False) -> tuple[RelayManager, RelayManager, RelayManager]:
    a = await hnet.node("a", nested=("b",), users=users)
    b = await hnet.node("b")
    c = await hnet.node("c")
    await hnet.link("a", "b")
    await hnet.link("c", "b")
    await until(lambda: a.mesh.peers.get("b") and b.mesh.peers.get("c") and b.mesh.peers.get("a"), 15)
    await until(lambda: b.mesh.peers.get("c").ctrl is not None, 10)
    return a, b, c


async def test_chain_via_reverse_hop_over_quic(hnet: Hy2Net) -> None:
    a, b, c = await _chain(hnet)
    echo = Echo()
    port = await echo.start()
    try:
        payload = bytes(range(256)) * 2000
        stream = await a.exits.open_tcp(ExitRoute(exit_via="b/c"), "127.0.0.1", port)
        assert await roundtrip(stream, payload) == payload
        stream = await b.exits.open_tcp(ExitRoute(exit_via="c"), "127.0.0.1", port)
        assert await roundtrip(stream, b"reverse") == b"reverse"
        with pytest.raises(ExitError, match="loops"):
            await a.exits.open_tcp(ExitRoute(exit_via="b/a"), "127.0.0.1", port)
        with pytest.raises(ExitError, match="nested discovery is off"):
            await c.exits.open_tcp(ExitRoute(exit_via="b/a"), "127.0.0.1", port)
    finally:
        echo.close()
    await discovery.refresh(a.mesh)
    b_node = next(n for n in a.topology() if n["name"] == "b")
    assert [ch["name"] for ch in b_node["children"]] == ["c"]


async def test_udp_through_one_hop_and_reverse_over_quic(hnet: Hy2Net) -> None:
    a, b, _c = await _chain(hnet)
    loop = asyncio.get_running_loop()

    class EchoUdp(asyncio.DatagramProtocol):
        def connection_made(self, transport: Any) -> None:
            self.t = transport

        def datagram_received(self, data: bytes, addr: Any) -> None:
            self.t.sendto(data[::-1], addr)

    transport, _ = await loop.create_datagram_endpoint(EchoUdp, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    try:
        for mgr, via in ((a, "b"), (b, "c")):
            session = await mgr.exits.open_udp(ExitRoute(exit_via=via))
            got = None
            for _ in range(5):  # UDP may drop; bounded retries
                await session.send(b"abc", f"127.0.0.1:{port}")
                try:
                    got = await asyncio.wait_for(session.recv(), 2)
                    break
                except TimeoutError:
                    continue
            session.close()
            assert got == (b"cba", f"127.0.0.1:{port}")
    finally:
        transport.close()


async def test_ping_latency_and_rates(hnet: Hy2Net) -> None:
    from hy2scale.relay.prober import probe

    a, b, _c = await _chain(hnet)
    peer = a.mesh.peers.get("b")
    await probe(a.mesh, peer)
    assert peer.stats.latency_ms >= 1 and peer.stats.ping_ok == 1
    assert b.stats()["exit_clients"] == 2


async def test_hy2_user_traffic_follows_user_exit_path(hnet: Hy2Net) -> None:
    a, _b, _c = await _chain(hnet, users=True)
    port_a = hnet.nodes["a"][2]
    echo = Echo()
    port = await echo.start()
    clients = []
    try:
        alice = Hy2Client(
            ClientConfig(server="127.0.0.1", ports=port_a, password="alice-pass", insecure=True)
        )
        clients.append(alice)
        await alice.connect()
        stream = await alice.tcp(f"127.0.0.1:{port}")
        assert await roundtrip(stream, b"user via b/c") == b"user via b/c"
        assert a.mesh.paths["b/c"].tx >= len(b"user via b/c")
        # Users may not open relay streams (DESIGN §4.2).
        with pytest.raises(DialError, match="node password"):
            await alice.tcp("_relay_list_peers_:0")
        bob = Hy2Client(ClientConfig(server="127.0.0.1", ports=port_a, password="bob-pass", insecure=True))
        clients.append(bob)
        await bob.connect()
        with pytest.raises(DialError, match="loops"):
            await bob.tcp(f"127.0.0.1:{port}")
        carol = Hy2Client(
            ClientConfig(server="127.0.0.1", ports=port_a, password="carol-pass", insecure=True)
        )
        clients.append(carol)
        with pytest.raises(AuthError):
            await carol.connect()
    finally:
        echo.close()
        for client in clients:
            await client.close()


async def test_hy2_user_connection_is_rechecked_per_stream(hnet: Hy2Net) -> None:
    """A QUIC connection outlives kicks and edits: each new stream is checked again, before any dial."""
    a, _b, _c = await _chain(hnet, users=True)
    port_a = hnet.nodes["a"][2]
    echo = Echo()
    port = await echo.start()
    alice = Hy2Client(ClientConfig(server="127.0.0.1", ports=port_a, password="alice-pass", insecure=True))
    try:
        await alice.connect()
        live = await alice.tcp(f"127.0.0.1:{port}")
        live.write(b"ping")
        await live.drain()
        assert await asyncio.wait_for(live.readexactly(4), 10) == b"ping"
        accounts = a.node.accounts
        devices = accounts.sessions()
        assert [d["username"] for d in devices] == ["alice"]
        sent_before = a.mesh.paths["b/c"].tx
        assert accounts.kick(devices[0]["key"])
        # The live stream is cut, and the same connection cannot open a new one.
        assert await asyncio.wait_for(live.read(), 10) == b""
        with pytest.raises(DialError, match="not allowed"):
            await alice.tcp(f"127.0.0.1:{port}")
        assert a.mesh.paths["b/c"].tx == sent_before
    finally:
        echo.close()
        await alice.close()


async def test_hy2_user_udp_follows_exit_path_and_is_counted(hnet: Hy2Net) -> None:
    a, _b, _c = await _chain(hnet, users=True)
    port_a = hnet.nodes["a"][2]
    loop = asyncio.get_running_loop()

    class EchoUdp(asyncio.DatagramProtocol):
        def connection_made(self, transport: Any) -> None:
            self.t = transport

        def datagram_received(self, data: bytes, addr: Any) -> None:
            self.t.sendto(data, addr)

    transport, _ = await loop.create_datagram_endpoint(EchoUdp, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    alice = Hy2Client(ClientConfig(server="127.0.0.1", ports=port_a, password="alice-pass", insecure=True))
    try:
        await alice.connect()
        session = await alice.udp()
        got = None
        for _ in range(5):  # UDP may drop; bounded retries
            await session.send(b"u" * 700, f"127.0.0.1:{port}")
            try:
                got = await asyncio.wait_for(session.recv(), 2)
                break
            except TimeoutError:
                continue
        assert got == (b"u" * 700, f"127.0.0.1:{port}")
        # Through the user's exit b/c, and counted for the user while the session lives.
        assert a.mesh.paths["b/c"].tx >= 700
        assert a.node.accounts.traffic_used("u1") >= 1400
        assert [d["protocol"] for d in a.node.accounts.sessions()] == ["hy2"]
    finally:
        transport.close()
        await alice.close()


async def test_peer_link_on_the_qh3_client_backend(hnet: Hy2Net, monkeypatch: pytest.MonkeyPatch) -> None:
    from hy2scale.relay import manager

    used: list[str] = []

    def recording_factory(config: ClientConfig) -> Hy2Client:
        used.append(config.backend)
        return Hy2Client(config)

    monkeypatch.setattr(manager, "default_client_factory", recording_factory)
    a = await hnet.node("a")
    await hnet.node("b")
    await hnet.link("a", "b", backend="qh3")
    await until(lambda: a.mesh.peers.get("b"), 15)
    assert used and set(used) == {"qh3"}
    echo = Echo()
    port = await echo.start()
    try:
        payload = bytes(range(256)) * 4000
        stream = await a.exits.open_tcp(ExitRoute(exit_via="b"), "127.0.0.1", port)
        assert await roundtrip(stream, payload) == payload
    finally:
        echo.close()
