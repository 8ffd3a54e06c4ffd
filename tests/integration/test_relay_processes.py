"""Real `hy2scale run` processes, configured by writing their store before start and checked
through their REST API: a chain A→B←C (C dials B, so B reaches C only through C's ctrl
channel), hy2 users of A routed by their exit paths, disable over REST, kill and restart.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from hy2scale.certs import CertStore
from hy2scale.firstrun import ensure_first_run
from hy2scale.store import Store
from tests.conftest import VENV_BIN, free_port
from tests.integration.test_relay_mesh_memory import Echo, roundtrip

pytestmark = pytest.mark.slow
PASSWORD = "process-peer-pw"


def _socket_owner(port: int, remote_port: int) -> int | None:
    """PID owning the live TCP socket from local ``port`` to ``remote_port`` (Linux /proc)."""
    inode = None
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in list(f)[1:]:
                cols = line.split()
                local, remote = int(cols[1].split(":")[1], 16), int(cols[2].split(":")[1], 16)
                # TIME_WAIT leftovers of an earlier connection on the same port have inode 0.
                if (local, remote) == (port, remote_port) and cols[9] != "0":
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

    def put(self, path: str, body: dict[str, Any], token: str) -> Any:
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.api}/scale{path}",
            data=json.dumps(body).encode(),
            method="PUT",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        )
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


async def test_killed_peer_goes_offline_and_comes_back(tmp_path: Path) -> None:
    """Killing B makes A mark it offline within 20 s; A reconnects within 15 s of B's restart."""
    a, b = Proc(tmp_path / "ka", "a"), Proc(tmp_path / "kb", "b")
    a.add_client("b", b.hy2)
    try:
        for p in (a, b):
            p.start()
        for p in (a, b):
            await p.wait_api()
        token = a.login()

        async def b_connected() -> bool:
            topo = await asyncio.to_thread(a.get, "/api/topology", token)
            return bool(next((n for n in topo if n["name"] == "b"), {}).get("connected"))

        async def wait_for(want: bool, seconds: float) -> None:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + seconds
            while await b_connected() != want:
                assert loop.time() < deadline, f"b connected != {want} after {seconds} s"
                await asyncio.sleep(0.2)

        await wait_for(True, 20)
        assert b.proc is not None
        b.proc.kill()
        b.proc.wait(5)
        b.proc = None
        await wait_for(False, 20)
        b.start()
        await wait_for(True, 15)
    finally:
        for p in (a, b):
            p.stop()


async def test_disable_client_over_rest_closes_link_and_refuses_name(tmp_path: Path) -> None:
    """A and B dial each other; disabling client b on A stops A's link and refuses B's register."""
    a, b = Proc(tmp_path / "da", "a"), Proc(tmp_path / "db", "b")
    a.add_client("b", b.hy2)
    b.add_client("a", a.hy2)
    try:
        for p in (a, b):
            p.start()
        for p in (a, b):
            await p.wait_api()
        token = a.login()

        async def b_seen_on_a() -> tuple[bool, bool]:
            topo = await asyncio.to_thread(a.get, "/api/topology", token)
            outbound = next((n for n in topo if n["name"] == "b"), {}).get("connected", False)
            inbound = any(ch["name"] == "b" for ch in topo[0].get("children", []))
            return outbound, inbound

        for _ in range(100):
            if await b_seen_on_a() == (True, True):
                break
            await asyncio.sleep(0.2)
        assert await b_seen_on_a() == (True, True)

        await asyncio.to_thread(a.put, "/api/clients/b/disable", {"disabled": True}, token)
        for _ in range(50):
            if await b_seen_on_a() == (False, False):
                break
            await asyncio.sleep(0.2)
        assert await b_seen_on_a() == (False, False)
        await asyncio.sleep(2.5)  # B keeps redialing A; every register of the name "b" is refused
        assert await b_seen_on_a() == (False, False)
        clients = await asyncio.to_thread(a.get, "/api/clients", token)
        assert [(c["name"], c["connected"]) for c in clients] == [("b", False)]
    finally:
        for p in (a, b):
            p.stop()


async def test_three_processes_topology_via_rest_and_relay_through_a(tmp_path: Path) -> None:
    from hy2scale.hysteria import ClientConfig, DialError, Hy2Client

    a, b, c = Proc(tmp_path / "pa", "a"), Proc(tmp_path / "pb", "b"), Proc(tmp_path / "pc", "c")
    a.add_client("b", b.hy2)
    c.add_client("b", b.hy2)
    a.add_client("down", free_port())  # a configured peer that is never up
    store = Store.open(a.data)
    store.peer_flags.create({"path": "b", "nested": True, "disabled": False})
    store.sections.put("node", {**store.sections.get("node"), "hy2_user_auth": True})
    users = {
        "alice": {"exit_via": "b/c"},
        "bob": {"exit_via": "b/a"},
        "dave": {"exit_via": "b/c/zz"},
        "erin": {"exit_via": "down", "exit_paths": ["down", "b/c"]},
    }
    for i, (name, route) in enumerate(users.items()):
        store.users.create(
            {"id": f"u{i}", "username": name, "password": f"{name}-pw", "enabled": True, **route}
        )
    store.close()
    owners: list[int | None] = []
    echo = Echo(on_connect=lambda peer: owners.append(_socket_owner(peer[1], port)))
    port = await echo.start()
    client = Hy2Client(ClientConfig(server="127.0.0.1", ports=a.hy2, password=PASSWORD, insecure=True))
    opened: list[Hy2Client] = []
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

        # hy2 users of A leave through their own exit paths, with A as the origin.
        async def user(name: str) -> Hy2Client:
            conn = Hy2Client(
                ClientConfig(server="127.0.0.1", ports=a.hy2, password=f"{name}-pw", insecure=True)
            )
            opened.append(conn)
            await conn.connect()
            return conn

        stream = await (await user("alice")).tcp(f"127.0.0.1:{port}")
        assert await roundtrip(stream, b"alice") == b"alice"
        stream = await (await user("erin")).tcp(f"127.0.0.1:{port}")
        assert await roundtrip(stream, b"erin") == b"erin"
        assert owners == [c.proc.pid] * 3
        with pytest.raises(DialError, match="loops"):
            await (await user("bob")).tcp(f"127.0.0.1:{port}")
        with pytest.raises(DialError, match="nested discovery is off for 'b/c'"):
            await (await user("dave")).tcp(f"127.0.0.1:{port}")
        node_info = await asyncio.to_thread(a.get, "/api/node", token)
        assert node_info["active_paths"] == {"b/c": "b/c", "down": "b/c"}

        # Nested discovery off for b (over REST): b/c is refused with a clear reason.
        await asyncio.to_thread(a.put, "/api/peers/b/nested", {"enabled": False}, token)
        with pytest.raises(DialError, match="nested discovery is off for 'b'"):
            await (await user("alice")).tcp(f"127.0.0.1:{port}")
    finally:
        for conn in [client, *opened]:
            await conn.close()
        echo.close()
        for p in (a, b, c):
            p.stop()
