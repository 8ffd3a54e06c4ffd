"""build-id (public), build-info, system/arch and check-ports against real binds."""

from __future__ import annotations

import hashlib
import socket
from importlib import metadata

import pytest

from hy2scale import __version__
from tests.conftest import free_port
from tests.integration.api_a_support import BASE, admin_token, api_client, make_node


@pytest.fixture
async def client(tmp_path):
    node = make_node(tmp_path)
    async with api_client(node) as c:
        await admin_token(c)
        yield c
    node.store.close()


async def test_build_id_is_public_and_not_cached(tmp_path):
    node = make_node(tmp_path)
    async with api_client(node) as c:
        r = await c.get(f"{BASE}/build-id")
        assert r.status_code == 200
        assert "no-store" in r.headers["cache-control"]
        build = r.json()["build_id"]
        assert len(build) == 16 and int(build, 16) >= 0
        ui_id = getattr(c.app.state, "ui_build_id", None)
        assert build == (ui_id or hashlib.sha256(__version__.encode()).hexdigest()[:16])
        assert (await c.get(f"{BASE}/build-info")).status_code == 401
    node.store.close()


async def test_build_info_lists_real_dependencies(client):
    info = (await client.get(f"{BASE}/build-info")).json()
    assert info["version"] == __version__
    deps = {d["path"].lower(): d for d in info["go_deps"]}
    # Direct and transitive run-time dependencies, with the versions installed here.
    for name in ("fastapi", "cryptography", "starlette", "pydantic-core"):
        key = next(k for k in deps if k.replace("_", "-") == name)
        assert deps[key]["version"] == metadata.version(name)
        assert deps[key]["license"]
    assert "pytest" not in deps  # test extras are not run-time dependencies
    natives = {n["name"] for n in info["natives"]}
    assert {"CPython", "OpenSSL", "SQLite"} <= natives


async def test_system_arch(client):
    arch = (await client.get(f"{BASE}/system/arch")).json()
    assert arch["os"] == "linux" and arch["version"] == __version__
    assert isinstance(arch["in_docker"], bool)
    assert arch["upgradable"] or arch["upgrade_reason"]


async def test_check_ports_seed_form_sees_tcp_and_udp_listeners(client):
    tcp_port, udp_port, free = free_port(), free_port(), free_port()
    with socket.socket() as tcp, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        tcp.bind(("127.0.0.1", tcp_port))
        tcp.listen()
        udp.bind(("127.0.0.1", udp_port))
        r = await client.post(f"{BASE}/check-ports", json={"ports": [tcp_port, udp_port, free]})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["results"] == {str(tcp_port): False, str(udp_port): False, str(free): True}
        assert {(c["port"], c["proto"]) for c in body["conflicts"]} == {(tcp_port, "tcp"), (udp_port, "udp")}

        # The original's bare array and the SPA's wrapped objects answer with conflicts only.
        items = [{"port": tcp_port, "proto": "tcp", "desc": "x"}, {"port": tcp_port, "proto": "udp"}]
        r = await client.post(f"{BASE}/check-ports", json=items)
        assert r.json() == {"conflicts": [{"port": tcp_port, "proto": "tcp", "desc": "x"}]}
        r = await client.post(f"{BASE}/check-ports", json={"ports": items})
        assert r.json()["conflicts"][0]["port"] == tcp_port and "results" not in r.json()
    # Released sockets: free again.
    r = await client.post(f"{BASE}/check-ports", json={"ports": [tcp_port]})
    assert r.json()["results"] == {str(tcp_port): True}


async def test_check_ports_rejects_bad_input(client):
    assert (await client.post(f"{BASE}/check-ports", json={"ports": [0]})).status_code == 422
    assert (await client.post(f"{BASE}/check-ports", json={"ports": [70000]})).status_code == 422
    assert (await client.post(f"{BASE}/check-ports", json=[{"port": 80, "proto": "sctp"}])).status_code == 422
    assert (await client.post(f"{BASE}/check-ports", json={"ports": list(range(1, 200))})).status_code == 422
    bad = await client.post(f"{BASE}/check-ports", content=b"{", headers={"Content-Type": "application/json"})
    assert bad.status_code == 400
