"""The real Node wires accounts and services: a proxy added to the store comes up, carries a user's
traffic, appears in sessions, and the counters reach the store when the node stops."""

from __future__ import annotations

from pathlib import Path

from hy2scale.node import Node, NodeOptions
from tests.conftest import free_port, require_tool
from tests.unit.test_svc_fixtures import BLOB, http_origin, run_tool, user


async def test_node_runs_services_and_flushes_traffic(tmp_path: Path) -> None:
    curl = require_tool("curl")
    api, hy2, socks = free_port(), free_port(), free_port()
    node = Node(tmp_path, NodeOptions(api_listen=f"127.0.0.1:{api}", hy2_listen=f"127.0.0.1:{hy2}"))
    try:
        node.store.users.create(user("alice", "alice-pw"))
        node.store.proxies.create(
            {"id": "socks5", "protocol": "socks5", "listen": f"127.0.0.1:{socks}", "enabled": True}
        )
        await node.start()
        try:
            assert node.services.status() == {"socks5": {"running": True, "error": ""}}
            async with http_origin() as origin:
                code, body, err = await run_tool(
                    curl,
                    "-sS",
                    "--socks5-hostname",
                    f"127.0.0.1:{socks}",
                    "-U",
                    "alice:alice-pw",
                    f"http://127.0.0.1:{origin}/5000",
                )
                assert code == 0, err
                assert body == BLOB[:5000]
            # A user added through the store + bus (as the API does) can log in at once.
            node.store.users.create(user("bob", "bob-pw"))
            await node.bus.publish("users")
            assert node.accounts.authenticate("bob", "bob-pw", "socks5", "127.0.0.1").ok
        finally:
            await node.stop()
        assert node.store.users.get("id-alice")["traffic_used"] >= 5000
    finally:
        node.close()
