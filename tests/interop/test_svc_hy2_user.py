"""sing-box as a Hysteria 2 client logging in as a user whose exit_via is another node.

Node A runs the relay's hy2 inbound with our accounts; it peers with node B. The user's TCP
traffic must leave through B, be counted, and appear in A's sessions as protocol hy2.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from hy2scale.accounts import Accounts
from hy2scale.bus import ChangeBus
from hy2scale.hysteria import Hy2Server, ServerConfig
from hy2scale.hysteria.tls import self_signed
from hy2scale.relay.exits import ExitRoute
from hy2scale.relay.manager import RelayManager
from hy2scale.store import Store
from tests.conftest import free_port, require_tool, sing_box
from tests.unit.test_svc_fixtures import BLOB, http_origin, run_tool, user

pytestmark = pytest.mark.interop

PEER_PASSWORD = "peer-secret-svc"


@contextlib.asynccontextmanager
async def mesh_node(
    tmp: Path, name: str, cert: str, key: str, users: list[dict]
) -> AsyncIterator[SimpleNamespace]:
    (tmp / name).mkdir()
    store = Store.open(tmp / name)
    port = free_port()
    store.sections.put(
        "node", {"node_id": f"id-{name}", "name": name, "exit_node": False, "hy2_user_auth": True}
    )
    store.sections.put("server", {"listen": f"127.0.0.1:{port}", "password": PEER_PASSWORD})
    for row in users:
        store.users.create(row)
    node = SimpleNamespace(store=store, bus=ChangeBus(), port=port)
    node.accounts = Accounts(node)
    node.relay = RelayManager(node)
    node.exits = node.relay.exits
    server = Hy2Server(ServerConfig(listen=f"127.0.0.1:{port}", cert=cert, key=key), node.relay.inbound)
    await server.start()
    await node.relay.start()
    await node.accounts.start()
    try:
        yield node
    finally:
        await node.accounts.stop()
        await node.relay.stop()
        await server.stop()
        store.close()


@contextlib.asynccontextmanager
async def sing_box_client(tmp: Path, port: int, password: str) -> AsyncIterator[int]:
    mixed = free_port()
    config = {
        "log": {"level": "warn"},
        "inbounds": [{"type": "mixed", "listen": "127.0.0.1", "listen_port": mixed}],
        "outbounds": [
            {
                "type": "hysteria2",
                "server": "127.0.0.1",
                "server_port": port,
                "password": password,
                "tls": {"enabled": True, "insecure": True, "server_name": "hy2scale"},
            }
        ],
    }
    path = tmp / f"sb-{mixed}.json"
    path.write_text(json.dumps(config))
    proc = await asyncio.create_subprocess_exec(
        sing_box(),
        "run",
        "-c",
        str(path),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", mixed)
                writer.close()
                break
            await asyncio.sleep(0.05)
        yield mixed
    finally:
        proc.terminate()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), 5)
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_sing_box_hy2_user_exits_via_peer(tmp_path: Path) -> None:
    curl = require_tool("curl")
    cert, key = self_signed("hy2scale")
    users = [
        user("alice", "main-pw", proxy_passwords={"hy2": "alice-hy2-pw"}, exit_via="B"),
        user("bob", "bob-hy2-pw", exit_via="nowhere"),
        user("carol", "carol-hy2-pw", expiry_date="2001-01-01"),
    ]
    async with mesh_node(tmp_path, "A", cert, key, users) as a, mesh_node(tmp_path, "B", cert, key, []) as b:
        a.store.clients.create(
            {"name": "B", "addr": f"127.0.0.1:{b.port}", "password": PEER_PASSWORD, "insecure": True}
        )
        await a.bus.publish("clients")
        async with http_origin() as origin:
            for _ in range(100):  # until the A→B link is up
                with contextlib.suppress(Exception):
                    probe = await a.exits.open_tcp(
                        ExitRoute(exit_via="B", exit_paths=("B",)), "127.0.0.1", origin
                    )
                    probe.close()
                    break
                await asyncio.sleep(0.1)
            size = 1024 * 1024
            async with sing_box_client(tmp_path, a.port, "alice-hy2-pw") as mixed:
                code, body, err = await run_tool(
                    curl,
                    "-sS",
                    "--max-time",
                    "20",
                    "--socks5-hostname",
                    f"127.0.0.1:{mixed}",
                    f"http://127.0.0.1:{origin}/{size}",
                )
                assert code == 0, err
                assert hashlib.sha256(body).digest() == hashlib.sha256(BLOB[:size]).digest()
            assert a.exits.active.get("B") == "B"
            assert a.accounts.traffic_used("id-alice") >= size
            for password in ("bob-hy2-pw", "carol-hy2-pw", "main-pw"):
                async with sing_box_client(tmp_path, a.port, password) as mixed:
                    code, body, _ = await run_tool(
                        curl,
                        "-sS",
                        "--max-time",
                        "3",
                        "--socks5-hostname",
                        f"127.0.0.1:{mixed}",
                        f"http://127.0.0.1:{origin}/100",
                    )
                    assert code != 0 and body == b"", password
