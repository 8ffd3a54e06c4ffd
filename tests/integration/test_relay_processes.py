"""Real `hy2scale run` processes B and C, with node A as a RelayManager in the test process.

A is in-process so the test can dial through A's exits and see their errors directly; B and C
are separate processes configured by writing their store before start. Topology of A: A dials
B, C dials B (so B reaches C only through C's ctrl channel).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from hy2scale.bus import ChangeBus
from hy2scale.certs import CertStore
from hy2scale.firstrun import ensure_first_run
from hy2scale.relay import discovery
from hy2scale.relay.exits import ExitError, ExitRoute
from hy2scale.relay.manager import RelayManager
from hy2scale.store import Store
from tests.conftest import VENV_BIN, free_port
from tests.integration.test_relay_mesh_memory import Echo, roundtrip, until

pytestmark = pytest.mark.slow
PASSWORD = "process-peer-pw"


def _socket_owner(port: int) -> int | None:
    """PID owning the local TCP socket bound to 127.0.0.1:``port`` (Linux /proc)."""
    inode = None
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in list(f)[1:]:
                cols = line.split()
                if int(cols[1].split(":")[1], 16) == port:
                    inode = cols[9]
    if inode is None:
        return None
    target = f"socket:[{inode}]"
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                    return int(pid)
        except OSError:
            continue
    return None


class Proc:
    def __init__(self, data: Path, name: str) -> None:
        self.data = data
        self.name = name
        self.api = free_port()
        self.hy2 = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        data.mkdir()
        store = Store.open(data)
        try:
            ensure_first_run(store, CertStore(data / "tls"))
            node = store.sections.get("node")
            store.sections.put("node", {**node, "name": name})
            server = store.sections.get("server")
            store.sections.put("server", {**server, "password": PASSWORD, "listen": f"127.0.0.1:{self.hy2}"})
            store.admin.update({"force_password_change": False})
            self.node_id = node["node_id"]
        finally:
            store.close()

    def add_client(self, name: str, port: int) -> None:
        store = Store.open(self.data)
        try:
            store.clients.create(
                {"name": name, "addr": f"127.0.0.1:{port}", "password": PASSWORD, "insecure": True}
            )
        finally:
            store.close()

    def start(self) -> None:
        log = open(self.data / "node.log", "ab")
        self.proc = subprocess.Popen(
            [
                str(VENV_BIN / "hy2scale"),
                "run",
                "--data",
                str(self.data),
                "--api",
                f"127.0.0.1:{self.api}",
                "--hy2-listen",
                f"127.0.0.1:{self.hy2}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    async def wait_api(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while loop.time() < deadline:
            assert self.proc is not None and self.proc.poll() is None, (self.data / "node.log").read_text()
            try:
                await asyncio.to_thread(self.get, "/api/health-probe-404")
            except urllib.error.HTTPError:
                return
            except OSError:
                await asyncio.sleep(0.2)
        raise AssertionError(f"{self.name} API did not come up")

    def get(self, path: str, token: str = "") -> Any:
        req = urllib.request.Request(f"http://127.0.0.1:{self.api}/scale{path}")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(req, timeout=5) as resp:
            return json.loads(resp.read())

    def login(self) -> str:
        body = json.dumps({"username": "admin", "password": hashlib.sha256(b"admin").hexdigest()}).encode()
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.api}/scale/api/login",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            return json.loads(resp.read())["token"]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[dict[str, Proc]]:
    b, c = Proc(tmp_path / "b", "b"), Proc(tmp_path / "c", "c")
    c.add_client("b", b.hy2)
    made = {"b": b, "c": c}
    try:
        yield made
    finally:
        for p in made.values():
            p.stop()


@pytest.fixture
async def node_a(tmp_path: Path, procs: dict[str, Proc]) -> AsyncIterator[RelayManager]:
    (tmp_path / "a").mkdir()
    store = Store.open(tmp_path / "a")
    store.sections.put("node", {"node_id": "a0a0a0a0", "name": "a"})
    store.sections.put("server", {"listen": f"127.0.0.1:{free_port()}", "password": "unused-a-pw"})
    store.clients.create(
        {"name": "b", "addr": f"127.0.0.1:{procs['b'].hy2}", "password": PASSWORD, "insecure": True}
    )
    store.peer_flags.create({"path": "b", "nested": True, "disabled": False})
    mgr = RelayManager(SimpleNamespace(store=store, bus=ChangeBus(), accounts=None), serve_hy2=True)
    yield mgr
    await mgr.stop()
    store.close()


async def test_chain_reverse_discovery_failover_and_restart(
    procs: dict[str, Proc], node_a: RelayManager
) -> None:
    a, b, c = node_a, procs["b"], procs["c"]
    b.start()
    c.start()
    await b.wait_api()
    await c.wait_api()
    await a.start()
    await until(lambda: a.mesh.peers.get("b") is not None, 20)
    peer_b = a.mesh.peers.get("b")
    assert peer_b.meta.node_id == b.node_id and peer_b.meta.version == "1.3.4"

    # C registered with B (reverse direction) and is published in B's list; A sees it nested.
    async def c_under_b() -> bool:
        await discovery.refresh(a.mesh)
        node = next(n for n in a.topology() if n["name"] == "b")
        return [ch["name"] for ch in node.get("children", [])] == ["c"]

    for _ in range(100):
        if await c_under_b():
            break
        await asyncio.sleep(0.2)
    assert await c_under_b()
    token = b.login()
    b_topo = await asyncio.to_thread(b.get, "/api/topology", token)
    assert {ch["name"] for ch in b_topo[0].get("children", [])} == {"a", "c"}

    owners: list[int | None] = []
    # The echo server's client socket must belong to C's process: the exit really was C.
    echo = Echo(on_connect=lambda peer: owners.append(_socket_owner(peer[1])))
    port = await echo.start()
    try:
        stream = await a.exits.open_tcp(ExitRoute(exit_via="b/c"), "127.0.0.1", port)
        assert await roundtrip(stream, b"x" * 50_000) == b"x" * 50_000
        assert c.proc is not None and owners == [c.proc.pid]

        with pytest.raises(ExitError, match="loops"):
            await a.exits.open_tcp(ExitRoute(exit_via="b/a"), "127.0.0.1", port)
        a.mesh.flags["b"]["nested"] = False
        with pytest.raises(ExitError, match="nested discovery is off for 'b'"):
            await a.exits.open_tcp(ExitRoute(exit_via="b/c"), "127.0.0.1", port)
        a.mesh.flags["b"]["nested"] = True

        # Failover: the first path ends at a node B does not know, the second one works.
        stream = await a.exits.open_tcp(
            ExitRoute(exit_via="b/gone", exit_paths=("b/gone", "b/c")), "127.0.0.1", port
        )
        assert await roundtrip(stream, b"failover") == b"failover"
        assert a.active_paths()["b/gone"] == "b/c"

        # Kill B: A marks it offline within 20 s, and reconnects within 15 s of B's restart.
        assert b.proc is not None
        b.proc.kill()
        b.proc.wait(5)
        b.proc = None
        await until(lambda: a.mesh.peers.get("b") is None, 20)
        b.start()
        await until(lambda: a.mesh.peers.get("b") is not None, 15)
        assert a.mesh.peers.get("b").meta.node_id == b.node_id
    finally:
        echo.close()


async def test_disable_client_closes_link_and_refuses_name(
    procs: dict[str, Proc], node_a: RelayManager
) -> None:
    a, b = node_a, procs["b"]
    b.start()
    await b.wait_api()
    await a.start()
    await until(lambda: a.mesh.peers.get("b") is not None, 20)
    a.store.clients.update("b", {"disabled": True})
    await a.node.bus.publish("clients")
    assert a.mesh.peers.get("b") is None
    with pytest.raises(ExitError, match="disabled"):
        await a.exits.open_tcp(ExitRoute(exit_via="b"), "127.0.0.1", 9)
    token = b.login()

    async def a_gone_from_b() -> bool:
        topo = await asyncio.to_thread(b.get, "/api/topology", token)
        return not topo[0].get("children")

    for _ in range(50):
        if await a_gone_from_b():
            break
        await asyncio.sleep(0.2)
    assert await a_gone_from_b()


async def test_three_processes_topology_via_rest_and_relay_through_a(tmp_path: Path) -> None:
    from hy2scale.hysteria import ClientConfig, Hy2Client

    a, b, c = Proc(tmp_path / "pa", "a"), Proc(tmp_path / "pb", "b"), Proc(tmp_path / "pc", "c")
    a.add_client("b", b.hy2)
    c.add_client("b", b.hy2)
    store = Store.open(a.data)
    store.peer_flags.create({"path": "b", "nested": True, "disabled": False})
    store.close()
    owners: list[int | None] = []
    echo = Echo(on_connect=lambda peer: owners.append(_socket_owner(peer[1])))
    port = await echo.start()
    client = Hy2Client(ClientConfig(server="127.0.0.1", ports=a.hy2, password=PASSWORD, insecure=True))
    try:
        for p in (b, c, a):
            p.start()
        for p in (b, c, a):
            await p.wait_api()
        token = a.login()

        async def c_under_b() -> bool:
            topo = await asyncio.to_thread(a.get, "/api/topology", token)
            node_b = next((n for n in topo if n["name"] == "b"), {})
            return [ch["name"] for ch in node_b.get("children", [])] == ["c"]

        for _ in range(150):  # discovery runs 2 s after start, then every 7 s
            if await c_under_b():
                break
            await asyncio.sleep(0.2)
        assert await c_under_b()

        # A forwards a via stream hop by hop: A -> B -> (B's ctrl to C) -> C dials the echo server.
        await client.connect()
        stream = await client.tcp(f"_relay_via_b/c_127.0.0.1:{port}:0")
        assert await roundtrip(stream, b"three processes") == b"three processes"
        assert c.proc is not None and owners == [c.proc.pid]
        stats = await asyncio.to_thread(a.get, "/api/stats", token)
        assert stats["tx_bytes"] >= len(b"three processes")
    finally:
        await client.close()
        echo.close()
        for p in (a, b, c):
            p.stop()
