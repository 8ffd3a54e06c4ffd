"""GET/PUT /api/settings/ui: partial updates, validation, restart notes, effective limits."""

from __future__ import annotations

from tests.integration.api_a_support import BASE


async def test_defaults(client):
    s = (await client.get(f"{BASE}/settings/ui")).json()
    assert s["base_path"] == "/scale" and s["restart_pending"] is False
    assert s["session_timeout_h"] == 12 and s["max_nested_depth"] == 5 and s["max_response_bytes"] == 1 << 20
    assert s["dns_resolver_enabled"] is True and s["dns_resolver_cache_ttl"] == 0
    assert s["relay_admin_passthrough"] is False


async def test_live_changes_and_partial_update(client):
    r = await client.put(
        f"{BASE}/settings/ui",
        json={
            "dns": "9.9.9.9, 1.0.0.1:5353,[2606:4700::1111]:53",
            "session_timeout_h": 24,
            "max_nested_depth": 50,
            "relay_admin_passthrough": True,
            "dns_resolver_enabled": False,
            "dns_resolver_cache_ttl": 60,
        },
    )
    assert r.status_code == 200, r.text
    s = r.json()
    assert s["note"] == "applied live" and s["status"] == "ok"
    assert s["dns"] == "9.9.9.9,1.0.0.1:5353,[2606:4700::1111]:53"
    assert s["max_nested_depth"] == 10  # clamped to the cap, stored raw
    assert client.node.store.sections.get("ui")["max_nested_depth"] == 50
    assert s["relay_admin_passthrough"] is True and s["dns_resolver_enabled"] is False
    assert client.node.published[-1] == "settings"
    # Keys not sent stay as they are.
    s = (await client.put(f"{BASE}/settings/ui", json={"session_timeout_h": 6})).json()
    assert (
        s["dns"].startswith("9.9.9.9") and s["dns_resolver_cache_ttl"] == 60 and s["session_timeout_h"] == 6
    )


async def test_restart_note_for_listen_and_base_path(client):
    s = (await client.put(f"{BASE}/settings/ui", json={"base_path": "/scale"})).json()
    assert s["note"] == "applied live"  # unchanged value: no restart
    s = (
        await client.put(f"{BASE}/settings/ui", json={"listen": "127.0.0.1:15565", "base_path": "/admin"})
    ).json()
    assert s["note"].endswith("require restart to take effect") and s["restart_pending"] is True
    assert s["base_path"] == "/scale" and s["configured_base_path"] == "/admin"
    # The port shorthand keeps the configured host.
    s = (await client.put(f"{BASE}/settings/ui", json={"port": 16000})).json()
    assert s["configured_listen"] == "127.0.0.1:16000"


async def test_validation(client):
    for body in (
        {"listen": "nope"},
        {"listen": "0.0.0.0:0"},
        {"base_path": "/a b"},
        {"dns": "not a server!"},
        {"session_timeout_h": 0},
        {"max_fetch_fan_out": -1},
        {"https_cert_id": "../x"},
    ):
        r = await client.put(f"{BASE}/settings/ui", json=body)
        assert r.status_code == 422, body
    r = await client.put(f"{BASE}/settings/ui", json={"https_cert_id": "missing"})
    assert r.status_code == 400
    # A UI port already taken by one of our own TCP services is a conflict.
    await client.post(f"{BASE}/proxies", json={"id": "s", "listen": "0.0.0.0:1080", "enabled": True})
    assert (await client.put(f"{BASE}/settings/ui", json={"listen": "0.0.0.0:1080"})).status_code == 409
