"""Outbound peers ("clients") CRUD, disable, import, over the real app and store."""

from __future__ import annotations

import pytest

from tests.integration.api_a_support import BASE, api_client

JP = {"name": "jp", "addr": "jp.example.com:5565", "password": "remote-pw", "sni": "jp.example.com"}


async def test_create_list_get(client, node):
    r = await client.post(f"{BASE}/clients", json={**JP, "conn_mode": "ignored-by-us"})
    assert r.status_code == 200, r.text
    assert r.json()["addrs"] == ["jp.example.com:5565"]
    assert node.published == ["clients"]
    listed = (await client.get(f"{BASE}/clients")).json()
    assert [(c["name"], c["connected"]) for c in listed] == [("jp", False)]
    assert (await client.get(f"{BASE}/clients/jp")).json()["sni"] == "jp.example.com"
    # lookup by primary address, as the original allows
    assert (await client.get(f"{BASE}/clients/jp.example.com:5565")).json()["name"] == "jp"
    assert (await client.get(f"{BASE}/clients/nope")).status_code == 404


async def test_multi_address_and_port_hopping(client):
    body = {**JP, "addr": "", "addrs": ["a.example:443", "[2001:db8::1]:20000-30000,443"]}
    r = await client.post(f"{BASE}/clients", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["addr"] == "a.example:443"


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ({**JP, "addr": "no-port"}, 400),
        ({**JP, "addr": ":443"}, 400),
        ({**JP, "addr": "h:0"}, 400),
        ({**JP, "name": "a_b"}, 422),
        ({**JP, "password": ""}, 422),
        ({**JP, "max_tx": -1}, 422),
        ({**JP, "bbr_profile": "turbo"}, 422),
        ({"name": "jp"}, 422),
    ],
)
async def test_create_rejects_bad_input(client, payload, status):
    r = await client.post(f"{BASE}/clients", json=payload)
    assert r.status_code == status, r.text
    assert "error" in r.json()


async def test_duplicates_are_409(client):
    assert (await client.post(f"{BASE}/clients", json=JP)).status_code == 200
    assert (await client.post(f"{BASE}/clients", json={**JP, "addr": "other:1"})).status_code == 409
    r = await client.post(f"{BASE}/clients", json={**JP, "name": "jp2"})
    assert r.status_code == 409
    assert "already exists" in r.json()["error"]


async def test_update_rename_and_conflict(client, node):
    await client.post(f"{BASE}/clients", json=JP)
    await client.post(f"{BASE}/clients", json={**JP, "name": "kr", "addr": "kr.example:5565"})
    r = await client.put(
        f"{BASE}/clients/jp", json={"name": "jp-new", "max_tx": 1000, "addr": "jp2.example:5565"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "jp-new"
    assert r.json()["addrs"][0] == "jp2.example:5565"
    assert r.json()["password"] == "remote-pw"
    assert (await client.get(f"{BASE}/clients/jp")).status_code == 404
    assert (await client.put(f"{BASE}/clients/jp-new", json={"name": "kr"})).status_code == 409
    assert (await client.put(f"{BASE}/clients/ghost", json={"max_tx": 1})).status_code == 404
    assert (await client.put(f"{BASE}/clients/kr", json={"addr": "bad"})).status_code == 400


async def test_disable_and_delete(client, node):
    await client.post(f"{BASE}/clients", json=JP)
    assert (await client.put(f"{BASE}/clients/jp/disable", json={"disabled": True})).status_code == 200
    assert node.store.clients.get("jp")["disabled"] is True
    assert (await client.put(f"{BASE}/clients/ghost/disable", json={"disabled": True})).status_code == 404
    assert (await client.delete(f"{BASE}/clients/jp")).status_code == 200
    assert (await client.delete(f"{BASE}/clients/jp")).status_code == 404
    assert node.store.clients.list() == []


async def test_import_share_link(client):
    url = "hysteria2://p%40ss@hk.example.com:443,5000-6000/?sni=hk.example.com&insecure=1&up=10&down=50#HK%20node"
    r = await client.post(f"{BASE}/clients/import", json={"url": url})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["name"] == "HK-node"
    assert body["addr"] == "hk.example.com:443,5000-6000"
    assert body["password"] == "p@ss"
    assert (body["max_tx"], body["max_rx"]) == (1_250_000, 6_250_000)
    assert (await client.post(f"{BASE}/clients/import", json={"url": "http://x"})).status_code == 400
    r = await client.post(f"{BASE}/clients/import", json={"url": "hy2://hk.example.com:443"})
    assert r.status_code == 400
    assert (await client.post(f"{BASE}/clients/import", json={"url": url})).status_code == 409


async def test_unauthenticated(node):
    async with api_client(node) as c:
        assert (await c.get(f"{BASE}/clients")).status_code == 401
        assert (await c.post(f"{BASE}/clients", json=JP)).status_code == 401


async def test_quic_backend_is_validated_and_kept(client, node):
    r = await client.post(f"{BASE}/clients", json=JP)
    assert r.json()["quic_backend"] == "aioquic"
    r = await client.put(f"{BASE}/clients/jp", json={"quic_backend": "qh3"})
    assert r.status_code == 200, r.text
    assert node.store.clients.get("jp")["quic_backend"] == "qh3"
    r = await client.put(f"{BASE}/clients/jp", json={"quic_backend": "msquic"})
    assert r.status_code == 422 and "quic_backend" in r.json()["error"]
    assert node.store.clients.get("jp")["quic_backend"] == "qh3"
