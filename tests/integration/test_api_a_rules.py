"""Routing rules CRUD/toggle, tun-mode, graph layout GET/PUT, over the real app and store."""

from __future__ import annotations

from tests.integration.api_a_support import BASE

NETFLIX = {
    "id": "netflix",
    "name": "Netflix",
    "type": "domain",
    "targets": ["netflix.com", "*.nflxvideo.net"],
    "exit_via": "us",
    "exit_mode": "direct",
    "enabled": True,
}


async def test_rule_crud(client, node):
    r = await client.post(f"{BASE}/rules", json=NETFLIX)
    assert r.status_code == 200, r.text
    assert r.json()["exit_paths"] == ["us"]
    listed = (await client.get(f"{BASE}/rules")).json()
    assert isinstance(listed["available"], bool)
    assert listed["rules"][0]["id"] == "netflix"
    assert listed["rules"][0]["tun_active"] is False
    r = await client.put(f"{BASE}/rules/netflix", json={"exit_paths": ["jp", "kr"], "priority": 5})
    assert r.json()["exit_via"] == "jp"
    assert r.json()["targets"] == NETFLIX["targets"]
    assert (await client.put(f"{BASE}/rules/netflix/toggle", json={"enabled": False})).status_code == 200
    assert (await client.get(f"{BASE}/rules/netflix")).json()["enabled"] is False
    assert (await client.delete(f"{BASE}/rules/netflix")).status_code == 200
    assert node.published == ["rules"] * 4


async def test_rule_errors(client):
    await client.post(f"{BASE}/rules", json=NETFLIX)
    assert (await client.post(f"{BASE}/rules", json=NETFLIX)).status_code == 409
    for path in ("rules/ghost", "rules/ghost/toggle"):
        assert (await client.put(f"{BASE}/{path}", json={"enabled": True})).status_code == 404
    assert (await client.delete(f"{BASE}/rules/ghost")).status_code == 404
    assert (await client.get(f"{BASE}/rules/ghost")).status_code == 404
    bad = [
        ({**NETFLIX, "id": "ip1", "type": "ip", "targets": ["10.0.0.0/33"]}, 400),
        ({**NETFLIX, "id": "ip2", "type": "ip", "targets": ["10.0.0.9-10.0.0.1"]}, 400),
        ({**NETFLIX, "id": "d1", "targets": ["exa mple.com"]}, 400),
        ({**NETFLIX, "id": "d2", "exit_via": ""}, 400),
        ({**NETFLIX, "id": "d3", "targets": []}, 422),
        ({**NETFLIX, "id": "d4", "type": "port"}, 422),
        ({**NETFLIX, "id": "tun-mode"}, 400),
    ]
    for payload, status in bad:
        r = await client.post(f"{BASE}/rules", json=payload)
        assert r.status_code == status, (payload, r.text)
    r = await client.post(
        f"{BASE}/rules",
        json={
            **NETFLIX,
            "id": "ip3",
            "type": "ip",
            "targets": ["1.2.3.4", "10.0.0.0/8", "10.1.0.1-10.1.0.9", "2001:db8::/32"],
        },
    )
    assert r.status_code == 200, r.text
    assert (await client.put(f"{BASE}/rules/ip3", json={"targets": ["not-an-ip"]})).status_code == 400


async def test_tun_mode(client, node):
    assert (await client.get(f"{BASE}/rules/tun-mode")).json() == {"enabled": False, "mode": "mixed"}
    assert (
        await client.put(f"{BASE}/rules/tun-mode", json={"enabled": True, "mode": "full"})
    ).status_code == 200
    assert (await client.get(f"{BASE}/rules/tun-mode")).json() == {"enabled": True, "mode": "full"}
    assert node.published == ["tun_mode"]
    assert (
        await client.put(f"{BASE}/rules/tun-mode", json={"enabled": True, "mode": "half"})
    ).status_code == 422


async def test_graph_layout_both_shapes(client, node):
    assert (await client.get(f"{BASE}/graph-layout")).json() == {}
    assert (await client.put(f"{BASE}/graph-layout", json={"a": {"x": 1, "y": 2.5}})).status_code == 200
    assert (await client.get(f"{BASE}/graph-layout")).json() == {"a": {"x": 1.0, "y": 2.5}}
    r = await client.put(f"{BASE}/graph-layout", json={"positions": {"b": {"x": -3, "y": 4}}})
    assert r.status_code == 200
    assert (await client.get(f"{BASE}/graph-layout")).json() == {"b": {"x": -3.0, "y": 4.0}}
    # a node literally called "positions" is a map entry, not the wrapper
    r = await client.put(f"{BASE}/graph-layout", json={"positions": {"x": 1, "y": 1}})
    assert (await client.get(f"{BASE}/graph-layout")).json() == {"positions": {"x": 1.0, "y": 1.0}}
    assert (await client.put(f"{BASE}/graph-layout", json={"a": {"x": "left"}})).status_code == 422
    assert (await client.put(f"{BASE}/graph-layout", json=[1, 2])).status_code == 422
    assert (await client.put(f"{BASE}/graph-layout", json={})).status_code == 200
    assert (await client.get(f"{BASE}/graph-layout")).json() == {}
    assert node.published.count("graph_layout") == 4
