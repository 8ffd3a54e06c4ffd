"""Users: both field forms, conflicts, toggle, traffic, bulk; sessions; over the real app and store."""

from __future__ import annotations

import pytest

from hy2scale.accounts.core import Accounts
from tests.integration.api_a_support import BASE

GIB = 1 << 30


async def create(client, **fields):
    body = {"username": "alice", "password": "alice-pw", **fields}
    r = await client.post(f"{BASE}/users", json=body)
    assert r.status_code == 200, r.text
    return r.json()


async def test_seed_form_returns_both_forms(client, node):
    user = await create(
        client,
        exit_via="us/us-east",
        exit_mode="direct",
        traffic_limit_gb=500,
        expiry="2026-12-31T00:00:00Z",
    )
    assert len(user["id"]) == 8
    assert user["traffic_limit"] == 500 * GIB
    assert user["traffic_limit_gb"] == 500
    assert user["expiry_date"] == "2026-12-31"
    assert user["expiry"] == "2026-12-31T00:00:00Z"
    assert user["exit_paths"] == ["us/us-east"]
    assert user["exit_mode"] == ""
    assert user["enabled"] is True
    assert node.published == ["users"]


async def test_original_form(client):
    user = await create(client, id="u1", traffic_limit=1000, expiry_date="2027-01-02", enabled=False)
    assert (user["id"], user["traffic_limit"], user["expiry"]) == ("u1", 1000, "2027-01-02T00:00:00Z")
    assert user["enabled"] is False
    assert (await client.get(f"{BASE}/users/u1")).json() == user
    assert (await client.get(f"{BASE}/users")).json() == [user]
    await create(client, id="u2", username="bob", password="bob-pw", proxy_passwords={"ss": "ß-ünï"})
    listed = (await client.get(f"{BASE}/users")).json()
    assert [u["id"] for u in listed] == ["u1", "u2"]
    assert listed[1]["proxy_passwords"] == {"ss": "ß-ünï"}


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ({"username": "bob"}, 422),
        ({"username": "", "password": "x"}, 422),
        ({"username": "a|b", "password": "x"}, 422),
        ({"username": "bob", "password": "x", "traffic_limit": -1}, 422),
        ({"username": "bob", "password": "x", "expiry_date": "2026-13-40"}, 422),
        ({"username": "bob", "password": "x", "expiry": "tomorrow"}, 422),
        ({"username": "bob", "password": "x", "proxy_disabled": ["telnet"]}, 422),
        ({"username": "bob", "password": "x", "exit_mode": "warp"}, 400),
        ({"username": "bob", "password": "x", "exit_via": "bad_peer"}, 400),
        ({"username": "bob", "password": "x", "exit_paths": ["us/a", "jp/b"], "exit_mode": "aggregate"}, 400),
    ],
)
async def test_create_rejects_bad_input(client, payload, status):
    r = await client.post(f"{BASE}/users", json=payload)
    assert r.status_code == status, r.text
    assert "error" in r.json()


async def test_conflicts_are_409(client):
    await create(client, id="a1")
    r = await client.post(f"{BASE}/users", json={"username": "alice", "password": "other"})
    assert r.status_code == 409
    r = await client.post(f"{BASE}/users", json={"username": "bob", "password": "alice-pw"})
    assert r.status_code == 409
    assert "alice" in r.json()["error"]
    r = await client.post(f"{BASE}/users", json={"username": "bob", "password": "server-secret-123"})
    assert r.status_code == 409
    r = await client.post(f"{BASE}/users", json={"id": "a1", "username": "bob", "password": "bob-pw"})
    assert r.status_code == 409
    r = await client.post(
        f"{BASE}/users", json={"username": "bob", "password": "bob-pw", "proxy_passwords": {"ss": "alice-pw"}}
    )
    assert r.status_code == 409


async def test_conflicts_endpoint_reports_shared_passwords(client, node):
    assert (await client.get(f"{BASE}/users/conflicts")).json() == {}
    # shared passwords can only come from outside the API (an imported config); the endpoint reports them
    for uid, name in (("c1", "carol"), ("d1", "dave")):
        node.store.users.create(
            {"id": uid, "username": name, "password": "same", "enabled": True, "traffic_used": 0}
        )
    conflicts = (await client.get(f"{BASE}/users/conflicts")).json()
    assert conflicts["carol"]["hy2"] == ["dave"]
    assert conflicts["dave"]["ss"] == ["carol"]
    # an unrelated edit of a user in conflict is still allowed
    assert (await client.put(f"{BASE}/users/c1", json={"traffic_limit": 5})).status_code == 200


async def test_update_is_partial(client):
    user = await create(client, traffic_limit_gb=1)
    r = await client.put(f"{BASE}/users/{user['id']}", json={"expiry": "2030-05-06T10:00:00+02:00"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["password"] == "alice-pw"
    assert body["traffic_limit"] == GIB
    assert body["expiry_date"] == "2030-05-06"
    r = await client.put(f"{BASE}/users/{user['id']}", json={"username": "alice2", "exit_via": "jp"})
    assert (r.json()["username"], r.json()["exit_paths"]) == ("alice2", ["jp"])
    await create(client, username="bob", password="bob-pw")
    assert (await client.put(f"{BASE}/users/{user['id']}", json={"username": "bob"})).status_code == 409
    assert (await client.put(f"{BASE}/users/{user['id']}", json={"password": "bob-pw"})).status_code == 409
    assert (await client.put(f"{BASE}/users/nope", json={"enabled": True})).status_code == 404


async def test_toggle_reset_delete(client, node):
    user = await create(client)
    uid = user["id"]
    node.store.users.add_traffic({uid: (100, 50)})
    assert (await client.get(f"{BASE}/users/{uid}")).json()["traffic_used"] == 150
    assert (await client.put(f"{BASE}/users/{uid}/toggle", json={"enabled": False})).status_code == 200
    assert (await client.get(f"{BASE}/users/{uid}")).json()["enabled"] is False
    assert (await client.put(f"{BASE}/users/{uid}/reset-traffic")).status_code == 200
    assert (await client.get(f"{BASE}/users/{uid}")).json()["traffic_used"] == 0
    for method, path in (("put", "toggle"), ("put", "reset-traffic")):
        r = await client.request(method, f"{BASE}/users/ghost/{path}", json={"enabled": True})
        assert r.status_code == 404
    assert (await client.delete(f"{BASE}/users/{uid}")).status_code == 200
    assert (await client.delete(f"{BASE}/users/{uid}")).status_code == 404


async def test_bulk(client, node):
    ids = [(await create(client, username=f"u{i}", password=f"pw-{i}"))["id"] for i in range(4)]
    r = await client.post(f"{BASE}/users/bulk", json={"action": "disable", "ids": ids[:3]})
    assert r.json() == {"status": "ok", "count": 3}
    assert [u["enabled"] for u in (await client.get(f"{BASE}/users")).json()] == [False, False, False, True]
    r = await client.post(
        f"{BASE}/users/bulk",
        json={"action": "set-exit", "ids": ids, "exit_paths": ["us/a", "jp/a"], "exit_mode": "aggregate"},
    )
    assert r.status_code == 200, r.text
    assert {tuple(u["exit_paths"]) for u in node.store.users.list()} == {("us/a", "jp/a")}
    r = await client.post(f"{BASE}/users/bulk", json={"action": "delete", "ids": [ids[0], "ghost"]})
    assert r.status_code == 404
    assert len(node.store.users.list()) == 4  # nothing applied
    r = await client.post(f"{BASE}/users/bulk", json={"action": "delete", "ids": ids[:2]})
    assert r.json()["count"] == 2
    assert len(node.store.users.list()) == 2
    assert (
        await client.post(f"{BASE}/users/bulk", json={"action": "explode", "ids": ids})
    ).status_code == 422
    assert (await client.post(f"{BASE}/users/bulk", json={"action": "enable", "ids": []})).status_code == 422


async def test_sessions_without_accounts_and_with(client, node):
    assert (await client.get(f"{BASE}/sessions")).json() == {"devices": [], "total": 0}
    assert (await client.delete(f"{BASE}/sessions/alice|1.2.3.4|socks5")).status_code == 404
    await create(client)
    node.accounts = Accounts(node)
    result = node.accounts.authenticate("alice", "alice-pw", "socks5", "127.0.0.1")
    assert result.ok
    conn = node.accounts.open_connection(result.user, "127.0.0.1", "socks5")
    conn.add_tx(10)
    # the list shows live traffic (not yet flushed to the store) and matches the single-user view
    listed = (await client.get(f"{BASE}/users")).json()
    assert listed[0]["traffic_used"] == 10
    assert listed == [(await client.get(f"{BASE}/users/{listed[0]['id']}")).json()]
    sessions = (await client.get(f"{BASE}/sessions")).json()
    assert sessions["total"] == 1
    device = sessions["devices"][0]
    assert (device["username"], device["protocol"], device["tx_bytes"]) == ("alice", "socks5", 10)
    r = await client.delete(f"{BASE}/sessions/{device['key'].replace('|', '%7C')}")
    assert r.status_code == 200
    assert (await client.get(f"{BASE}/sessions")).json()["total"] == 0
    assert not node.accounts.authenticate("alice", "alice-pw", "socks5", "127.0.0.1").ok
    conn.close()
