"""Node, stats, topology, peers and peer flags, internal peers: over the real app and store."""

from __future__ import annotations

import httpx
import pytest

from hy2scale.api.deps import with_relay_auth
from tests.integration.api_a_support import BASE


async def test_get_node(client):
    body = (await client.get(f"{BASE}/node")).json()
    assert body["node_id"] == "ab12cd34"
    assert body["name"] == "self-node"
    assert body["server"]["password"] == "server-secret-123"
    assert body["active_paths"] == {}
    assert isinstance(body["limited"], bool)


async def test_put_node_partial(client, node):
    r = await client.put(f"{BASE}/node", json={"name": "sg-home", "exit_node": False})
    assert r.status_code == 200
    body = (await client.get(f"{BASE}/node")).json()
    assert body["name"] == "sg-home"
    assert body["exit_node"] is False
    assert body["node_id"] == "ab12cd34"
    assert body["server"]["listen"] == "0.0.0.0:5565"
    assert "node" in node.published and "server" not in node.published


async def test_put_node_id_renames_unless_name_given(client):
    await client.put(f"{BASE}/node", json={"node_id": "ffff0000"})
    body = (await client.get(f"{BASE}/node")).json()
    assert (body["node_id"], body["name"]) == ("ffff0000", "ffff0000")
    await client.put(f"{BASE}/node", json={"node_id": "eeee0000", "name": "keep"})
    body = (await client.get(f"{BASE}/node")).json()
    assert (body["node_id"], body["name"]) == ("eeee0000", "keep")


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ({"name": "bad_name"}, 422),
        ({"name": "has/slash"}, 422),
        ({"name": "-lead"}, 422),
        ({"server": {"listen": "0.0.0.0:5565", "password": "short"}}, 400),
        ({"server": {"listen": "nonsense", "password": "long-enough"}}, 400),
        ({"server": {"listen": "0.0.0.0:70000", "password": "long-enough"}}, 400),
        ({"exit_node": "yes please"}, 422),
    ],
)
async def test_put_node_rejects_bad_fields(client, payload, status):
    r = await client.put(f"{BASE}/node", json=payload)
    assert r.status_code == status, r.text
    assert "error" in r.json()


async def test_server_password_must_differ_from_users(client):
    r = await client.post(f"{BASE}/users", json={"username": "alice", "password": "alice-pass"})
    assert r.status_code == 200
    r = await client.put(f"{BASE}/node", json={"server": {"listen": ":5565", "password": "alice-pass"}})
    assert r.status_code == 409
    assert "alice" in r.json()["error"]


async def test_server_disable_and_reenable(client, node):
    assert (
        await client.put(f"{BASE}/node", json={"server": {"listen": "", "password": ""}})
    ).status_code == 200
    assert (await client.get(f"{BASE}/node")).json()["server"] is None
    assert "server" in node.published
    r = await client.put(f"{BASE}/node", json={"server": {"listen": "[::]:4433", "password": "abcdef"}})
    assert r.status_code == 200
    assert (await client.get(f"{BASE}/node")).json()["server"]["listen"] == "[::]:4433"


async def test_share_url_round_trips_into_a_client(client):
    r = await client.get(f"{BASE}/node/share-url", params={"host": "sg.example.com", "insecure": "true"})
    url = r.json()["url"]
    assert url.startswith("hysteria2://server-secret-123@sg.example.com:5565/")
    assert "insecure=1" in url
    assert url.endswith("#self-node")
    r = await client.post(f"{BASE}/clients/import", json={"url": url, "name": "sg"})
    assert r.status_code == 200, r.text
    assert r.json()["addr"] == "sg.example.com:5565"
    assert r.json()["password"] == "server-secret-123"
    assert r.json()["insecure"] is True


async def test_share_url_errors(client):
    assert (await client.get(f"{BASE}/node/share-url", params={"host": "a/b"})).status_code == 400
    await client.put(f"{BASE}/node", json={"server": {"listen": "", "password": ""}})
    r = await client.get(f"{BASE}/node/share-url", params={"host": "sg.example.com"})
    assert r.status_code == 409
    assert "disabled" in r.json()["error"]


async def test_stats_and_topology_without_relay(client):
    assert (await client.get(f"{BASE}/stats")).json() == {
        "tx_bytes": 0,
        "rx_bytes": 0,
        "tx_rate": 0,
        "rx_rate": 0,
        "conns": 0,
        "exit_clients": 0,
    }
    await client.post(f"{BASE}/clients", json={"name": "jp", "addr": "jp.example.com:5565", "password": "x"})
    topo = (await client.get(f"{BASE}/topology")).json()
    assert topo[0]["is_self"] is True and topo[0]["name"] == "ab12cd34"
    assert topo[1]["name"] == "jp"
    assert topo[1]["connected"] is False
    assert topo[1]["latency_ms"] == -1


class FakeRelayView:
    """Live data as the relay hands it over: plain dicts, the way RelayManager returns them."""

    def stats(self):
        return {"tx_bytes": 5, "rx_bytes": 7, "tx_rate": 1, "rx_rate": 2, "conns": 3, "exit_clients": 1}

    def peers(self):
        return [
            {"name": "jp", "direction": "outbound", "connected": True, "latency_ms": 35, "version": "1.3.4"}
        ]

    def active_paths(self):
        return {"us": "us/us-east"}

    async def nested_peers(self, path):
        if path == "broken":
            raise ConnectionResetError("stream reset by peer")
        return [{"name": "jp-r1", "direction": "outbound", "latency_ms": 73}] if path == "jp" else None


async def test_live_data_comes_from_the_relay(client, node):
    node.relay = FakeRelayView()
    assert (await client.get(f"{BASE}/stats")).json()["conns"] == 3
    assert (await client.get(f"{BASE}/node")).json()["active_paths"] == {"us": "us/us-east"}
    peers = (await client.get(f"{BASE}/peers")).json()
    assert peers[0]["version"] == "1.3.4"
    assert (await client.get(f"{BASE}/peers/jp/peers")).json()[0]["name"] == "jp-r1"
    r = await client.get(f"{BASE}/peers/kr/peers")
    assert r.status_code == 400
    assert "not connected" in r.json()["error"]
    r = await client.get(f"{BASE}/peers/broken/peers")
    assert r.status_code == 502
    assert "stream reset" in r.json()["error"]


async def test_peers_without_relay_are_offline(client):
    await client.post(f"{BASE}/clients", json={"name": "jp", "addr": "jp.example.com:5565", "password": "x"})
    peers = (await client.get(f"{BASE}/peers")).json()
    assert peers == [
        {
            "name": "jp",
            "direction": "outbound",
            "exit_node": False,
            "connected": False,
            "nested": False,
            "disabled": False,
            "latency_ms": -1,
        }
    ]
    assert (await client.get(f"{BASE}/peers/jp/peers")).status_code == 400


async def test_nested_flags_with_slash_paths_and_cascade(client, node):
    assert (await client.put(f"{BASE}/peers/us/nested", json={"enabled": True})).status_code == 200
    r = await client.put(f"{BASE}/peers/us%2Fus-east/nested", json={"enabled": True})
    assert r.status_code == 200
    r = await client.put(f"{BASE}/peers/self-node/us/us-east/us-east-a/disable", json={"disabled": True})
    assert r.status_code == 200
    paths = {f["path"]: f for f in node.store.peer_flags.list()}
    assert set(paths) == {"us", "us/us-east", "us/us-east/us-east-a"}
    assert paths["us/us-east/us-east-a"]["disabled"] is True
    await client.put(f"{BASE}/peers/us/nested", json={"enabled": False})
    assert [f["path"] for f in node.store.peer_flags.list()] == ["us"]
    assert node.published.count("peer_flags") == 4
    assert (await client.put(f"{BASE}/peers/bad_name/nested", json={"enabled": True})).status_code == 400
    assert (await client.put(f"{BASE}/peers/us/nested", json={"enabled": "maybe"})).status_code == 422


async def test_internal_peers_needs_relay_auth(node, client):
    assert (await client.get(f"{BASE}/internal/peers")).status_code == 403
    app = with_relay_auth(client.app, "system")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://relay") as relay:
        r = await relay.get(f"{BASE}/internal/peers")
        assert r.status_code == 200
        assert r.json() == []
        # a relay request still needs a token for admin routes unless passthrough is on
        assert (await relay.get(f"{BASE}/node")).status_code == 401
        node.store.sections.put("relay_admin", {"passthrough": True})
        assert (await relay.get(f"{BASE}/node")).status_code == 200
    user_app = with_relay_auth(client.app, "user:alice")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=user_app), base_url="http://relay"
    ) as user:
        assert (await user.get(f"{BASE}/internal/peers")).status_code == 403
        assert (await user.get(f"{BASE}/node")).status_code == 401
