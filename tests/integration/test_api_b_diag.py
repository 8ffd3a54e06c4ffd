"""Diagnostics: local and through-an-exit resolution, and peer health from a real (in-memory) mesh."""

from __future__ import annotations

import asyncio
import contextlib
import struct

from hy2scale import dnswire
from hy2scale.relay.manager import RelayManager
from hy2scale.relay.memlink import MemoryNetwork
from tests.integration.api_a_support import BASE, make_node

PASSWORD = "peer-secret-1"


async def test_resolve_locally(client):
    r = await client.get(f"{BASE}/diag/resolve", params={"name": "localhost"})
    assert r.status_code == 200
    assert "127.0.0.1" in r.json()["ips"] and r.json()["source"] == "local"
    r = await client.get(f"{BASE}/diag/resolve", params={"name": "192.0.2.7", "exit_via": "x"})
    assert r.json()["ips"] == ["192.0.2.7"]
    # Without a relay the exit part is reported, and the local answer still given.
    r = await client.get(f"{BASE}/diag/resolve", params={"name": "localhost", "exit_via": "jp"})
    assert r.status_code == 200 and "relay not running" in r.json()["error"]
    r = await client.get(f"{BASE}/diag/resolve", params={"name": "no-such-host.invalid"})
    assert r.status_code == 200 and r.json()["ips"] == [] and r.json()["error"]
    assert (await client.get(f"{BASE}/diag/resolve")).status_code == 422
    assert (await client.get(f"{BASE}/diag/resolve", params={"name": "a..b"})).status_code == 400


async def test_peer_views_empty_without_relay(client):
    for path in ("peer-health", "peer-rebinds", "peer-latency"):
        r = await client.get(f"{BASE}/diag/{path}")
        assert r.status_code == 200 and r.json() == {"peers": []}


class DnsServer:
    """DNS over TCP on 127.0.0.1 answering every A query with one fixed address."""

    def __init__(self, answer: str) -> None:
        self.answer = bytes(int(x) for x in answer.split("."))
        self.queries: list[bytes] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
                size = struct.unpack("!H", await reader.readexactly(2))[0]
                query = await reader.readexactly(size)
                self.queries.append(query)
                header = query[:2] + bytes.fromhex("8180 0001 0001 0000 0000")
                answer = bytes.fromhex("c00c 0001 0001 0000003c 0004") + self.answer
                writer.write(dnswire.frame_tcp(header + query[12:] + answer))
                await writer.drain()
            writer.close()

        self.server = await asyncio.start_server(serve, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]


async def test_resolve_through_an_exit_and_peer_health(client, tmp_path):
    mem = MemoryNetwork()
    api_node = client.node
    api_node.store.sections.put("server", {**api_node.store.sections.get("server"), "listen": "a:1"})
    a = RelayManager(api_node, client_factory=mem.client)
    mem.serve("a:1", a.inbound)
    (tmp_path / "b").mkdir()
    b_node = make_node(tmp_path / "b")
    b_node.store.sections.put("node", {"node_id": "id-b", "name": "b", "exit_node": True})
    b_node.store.sections.put("server", {"listen": "b:1", "password": PASSWORD})
    b = RelayManager(b_node, client_factory=mem.client)
    mem.serve("b:1", b.inbound)
    api_node.relay = a
    dns = DnsServer("198.51.100.9")
    port = await dns.start()
    try:
        await a.start()
        await b.start()
        api_node.store.clients.create({"name": "b", "addr": "b:1", "password": PASSWORD, "insecure": True})
        await api_node.bus.publish("clients")
        for _ in range(500):
            if a.mesh.peers.get("b") is not None:
                break
            await asyncio.sleep(0.02)
        await client.put(f"{BASE}/settings/ui", json={"dns": f"127.0.0.1:{port}"})

        r = await client.get(f"{BASE}/diag/resolve", params={"name": "media.example", "exit_via": "b"})
        assert r.status_code == 200, r.text
        assert r.json() == {
            "name": "media.example",
            "exit_via": "b",
            "ips": ["198.51.100.9"],
            "source": "exit",
        }
        assert dnswire.encode_name("media.example") in dns.queries[0]

        health = (await client.get(f"{BASE}/diag/peer-health")).json()["peers"]
        assert [(p["name"], p["direction"]) for p in health] == [("b", "outbound")]
        latency = (await client.get(f"{BASE}/diag/peer-latency")).json()["peers"]
        assert latency[0]["name"] == "b" and isinstance(latency[0]["history"], list)
        rebinds = (await client.get(f"{BASE}/diag/peer-rebinds")).json()["peers"]
        assert rebinds[0]["name"] == "b"
    finally:
        dns.server.close()
        await a.stop()
        await b.stop()
        b_node.store.close()
