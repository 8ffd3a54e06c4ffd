"""GET /api/proxies and /api/ss carry the live run state of the real service manager."""

from __future__ import annotations

import socket

import pytest

from hy2scale.services.manager import ServiceManager
from tests.conftest import free_port
from tests.integration.api_a_support import BASE, api_client, api_token, make_node


@pytest.fixture
def node(tmp_path):
    n = make_node(tmp_path)
    yield n
    n.store.close()


async def test_without_a_service_manager_nothing_runs(node):
    async with api_client(node) as client:
        api_token(client)
        body = {"id": "s", "protocol": "socks5", "listen": f"127.0.0.1:{free_port()}", "enabled": True}
        created = (await client.post(f"{BASE}/proxies", json=body)).json()
        assert (created["running"], created["error"]) == (False, "")
        [listed] = (await client.get(f"{BASE}/proxies")).json()
        assert (listed["running"], listed["error"]) == (False, "")
        ss = (await client.get(f"{BASE}/ss")).json()
        assert (ss["running"], ss["error"]) == (False, "")


async def test_running_and_error_follow_the_manager(node):
    node.services = ServiceManager(node)
    blocker = socket.create_server(("127.0.0.1", 0))
    busy = blocker.getsockname()[1]
    node.store.proxies.create(
        {"id": "busy", "protocol": "http", "listen": f"127.0.0.1:{busy}", "enabled": True}
    )
    await node.services.start()
    try:
        async with api_client(node) as client:
            api_token(client)
            body = {"id": "s", "protocol": "socks5", "listen": f"127.0.0.1:{free_port()}", "enabled": True}
            assert (await client.post(f"{BASE}/proxies", json=body)).status_code == 200
            ss_body = {"listen": f"127.0.0.1:{free_port()}", "enabled": True, "method": "aes-256-gcm"}
            assert (await client.put(f"{BASE}/ss", json=ss_body)).status_code == 200
            proxies = {p["id"]: p for p in (await client.get(f"{BASE}/proxies")).json()}
            assert (proxies["s"]["running"], proxies["s"]["error"]) == (True, "")
            assert proxies["busy"]["running"] is False
            assert "address already in use" in proxies["busy"]["error"].lower()
            for path in ("ss", "shadowsocks"):
                ss = (await client.get(f"{BASE}/{path}")).json()
                assert (ss["running"], ss["error"], ss["method"]) == (True, "", "aes-256-gcm")
            body["enabled"] = False
            updated = (await client.put(f"{BASE}/proxies/s", json=body)).json()
            assert (updated["running"], updated["enabled"]) == (False, False)
            schema = (await client.get(f"{BASE}/openapi.json")).json()["components"]["schemas"]
            for model in ("Proxy", "Shadowsocks"):
                assert {"running", "error"} <= set(schema[model]["properties"])
    finally:
        blocker.close()
        await node.services.stop()
