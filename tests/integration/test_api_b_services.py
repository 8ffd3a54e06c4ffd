"""Service settings endpoints: proxies, Shadowsocks, L2TP, IKEv2, WireGuard and its peers."""

from __future__ import annotations

import asyncio
import base64

from hy2scale import hostprobe, keygen
from tests.conftest import free_port, require_tool
from tests.integration.api_a_support import BASE, api_client, make_node


async def test_proxies_crud_and_conflicts(client):
    node = client.node
    port = free_port()
    r = await client.post(
        f"{BASE}/proxies", json={"protocol": "socks5", "listen": f"0.0.0.0:{port}", "enabled": True}
    )
    assert r.status_code == 200, r.text
    assert r.json()["id"] == "socks5"  # defaults to the protocol like the seed example
    assert node.published[-1] == "proxies"
    r = await client.post(f"{BASE}/proxies", json={"protocol": "socks5", "listen": f"127.0.0.1:{port + 1}"})
    assert r.status_code == 409  # duplicate id
    r = await client.post(
        f"{BASE}/proxies",
        json={"id": "web", "protocol": "http", "listen": f"127.0.0.1:{port}", "enabled": True},
    )
    assert r.status_code == 409 and "proxy:socks5" in r.json()["error"]
    r = await client.post(f"{BASE}/proxies", json={"id": "web", "protocol": "http", "listen": "nonsense"})
    assert r.status_code == 422
    r = await client.post(f"{BASE}/proxies", json={"id": "web", "protocol": "ftp", "listen": ":8080"})
    assert r.status_code == 422
    r = await client.post(
        f"{BASE}/proxies", json={"id": "web", "protocol": "http", "listen": ":8080", "tls_cert": "missing"}
    )
    assert r.status_code == 400
    r = await client.post(
        f"{BASE}/proxies",
        json={
            "id": "web",
            "protocol": "http",
            "listen": "[::1]:8080",
            "exit_via": "us/us-east",
            "exit_mode": "direct",
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["exit_paths"] == ["us/us-east"] and r.json()["exit_mode"] == ""
    bonded = {"id": "bond", "listen": "127.0.0.1:9", "exit_paths": ["a/x", "b/y"], "exit_mode": "aggregate"}
    assert (await client.post(f"{BASE}/proxies", json=bonded)).status_code == 422
    r = await client.put(
        f"{BASE}/proxies/web", json={"protocol": "http", "listen": "127.0.0.1:8081", "enabled": False}
    )
    assert r.status_code == 200 and r.json()["listen"] == "127.0.0.1:8081"
    assert [p["id"] for p in (await client.get(f"{BASE}/proxies")).json()] == ["socks5", "web"]
    assert (await client.put(f"{BASE}/proxies/nope", json={"listen": ":1"})).status_code == 404
    assert (await client.delete(f"{BASE}/proxies/web")).status_code == 200
    assert (await client.delete(f"{BASE}/proxies/web")).status_code == 404


async def test_proxy_clashes_with_udp_only_by_protocol(client):
    # The hy2 server listens on UDP 5565; a TCP proxy on 5565 does not clash with it, the UI listener does.
    r = await client.post(f"{BASE}/proxies", json={"id": "a", "listen": "0.0.0.0:5565", "enabled": True})
    assert r.status_code == 409 and "ui" in r.json()["error"]


async def test_udp_services_clash_with_hy2_port_hopping(client):
    store = client.node.store
    store.sections.put("server", {**store.sections.get("server"), "listen": "0.0.0.0:6565,7000-7010"})
    r = await client.put(
        f"{BASE}/wireguard",
        json={"enabled": True, "listen_port": 7005, "private_key": keygen.wg_private_key()},
    )
    assert r.status_code == 409 and "hy2" in r.json()["error"]
    r = await client.put(
        f"{BASE}/wireguard",
        json={"enabled": True, "listen_port": 7011, "private_key": keygen.wg_private_key()},
    )
    assert r.status_code == 200 and r.json()["enabled"] is True


async def test_shadowsocks_both_paths(client):
    r = await client.get(f"{BASE}/ss")
    stopped = {"running": False, "error": ""}  # no service manager in these tests
    assert r.json() == {"listen": "", "enabled": False, "method": "aes-256-gcm", "psk": ""} | stopped
    body = {"listen": "0.0.0.0:8388", "enabled": True, "method": "chacha20-ietf-poly1305", "psk": ""}
    r = await client.put(f"{BASE}/shadowsocks", json=body)
    assert r.status_code == 200 and r.json() == body | stopped
    assert (await client.get(f"{BASE}/ss")).json() == body | stopped
    assert client.node.published[-1] == "shadowsocks"
    assert (await client.put(f"{BASE}/ss", json={**body, "method": "rc4"})).status_code == 422
    assert (await client.put(f"{BASE}/ss", json={"enabled": True})).status_code == 422
    r = await client.post(f"{BASE}/proxies", json={"id": "x", "listen": "127.0.0.1:8388", "enabled": True})
    assert r.status_code == 409 and "shadowsocks" in r.json()["error"]


async def test_l2tp_follows_the_real_capability_probe(client):
    cap = hostprobe.l2tp_capability()
    r = await client.get(f"{BASE}/l2tp")
    data = r.json()
    assert (data["capable"], data["reason"]) == (cap.capable, cap.reason)
    assert data["listen"] == "1701" and data["pool"] == "192.168.25.1/24"
    # A disabled config can always be saved.
    r = await client.put(f"{BASE}/l2tp", json={"enabled": False, "pool": "10.9.0.1/24", "psk": "s3cret"})
    assert r.status_code == 200 and r.json()["pool"] == "10.9.0.1/24"
    assert (await client.put(f"{BASE}/l2tp", json={"pool": "not-a-cidr"})).status_code == 422
    r = await client.put(f"{BASE}/l2tp", json={"enabled": True, "psk": "s3cret"})
    if cap.capable:
        assert r.status_code == 200
    else:
        assert r.status_code == 403 and r.json()["error"] == f"L2TP unavailable: {cap.reason}"


async def test_ikev2_validation_and_capability(client):
    cap = hostprobe.ikev2_capability()
    r = await client.get(f"{BASE}/ikev2")
    data = r.json()
    assert data["capable"] == cap.capable and data["mode"] == "mschapv2"
    assert data["local_id"] == "ab12cd34"  # defaults to the node id
    assert (await client.put(f"{BASE}/ikev2", json={"mode": "l2tp"})).status_code == 422
    assert (await client.put(f"{BASE}/ikev2", json={"enabled": True, "mode": "psk"})).status_code == 422
    r = await client.put(
        f"{BASE}/ikev2",
        json={"enabled": False, "mode": "psk", "psk": "k", "default_exit": "jp", "dns": "9.9.9.9"},
    )
    assert r.status_code == 200
    assert r.json()["default_exit_paths"] == ["jp"] and r.json()["dns"] == "9.9.9.9"
    r = await client.put(f"{BASE}/ikev2", json={"enabled": True, "mode": "psk", "psk": "k"})
    assert r.status_code == (200 if cap.capable else 403)
    if cap.capable:
        # mschapv2 needs a CA with its key from the TLS store.
        r = await client.put(f"{BASE}/ikev2", json={"enabled": True, "mode": "mschapv2", "cert_id": "nope"})
        assert r.status_code == 400


async def test_wireguard_config_and_peers(client):
    node = client.node
    server_private = keygen.wg_private_key()
    r = await client.put(
        f"{BASE}/wireguard",
        json={
            "enabled": False,
            "listen_port": 51999,
            "private_key": server_private,
            "address": "10.7.0.1/24",
        },
    )
    assert r.status_code == 200, r.text
    wg = r.json()
    assert wg["public_key"] == keygen.wg_public_key(server_private) and wg["running"] is False
    assert (await client.put(f"{BASE}/wireguard", json={"private_key": "short"})).status_code == 422
    assert (await client.put(f"{BASE}/wireguard", json={"address": "10.7.0.300/24"})).status_code == 422
    # An empty private_key keeps the stored one.
    r = await client.put(f"{BASE}/wireguard", json={"listen_port": 51999, "address": "10.7.0.1/24"})
    assert r.json()["private_key"] == server_private

    keys = (await client.post(f"{BASE}/wireguard/generate-key")).json()
    assert keygen.wg_public_key(keys["private_key"]) == keys["public_key"]
    peer = {
        "name": "phone",
        "public_key": keys["public_key"],
        "private_key": keys["private_key"],
        "allowed_ips": "10.7.0.2/32",
        "keepalive": 25,
    }
    r = await client.post(f"{BASE}/wireguard/peers", json=peer)
    assert r.status_code == 200 and node.published[-1] == "wireguard"
    assert (await client.post(f"{BASE}/wireguard/peers", json=peer)).status_code == 409
    assert (await client.post(f"{BASE}/wireguard/peers", json={**peer, "name": "other"})).status_code == 409
    other = keygen.wg_private_key()
    bad = {**peer, "name": "other", "public_key": keygen.wg_public_key(other)}
    assert (await client.post(f"{BASE}/wireguard/peers", json=bad)).status_code == 422  # key pair mismatch
    assert (
        await client.post(f"{BASE}/wireguard/peers", json={**bad, "private_key": "", "allowed_ips": "x"})
    ).status_code == 422

    r = await client.get(f"{BASE}/wireguard/peers/phone/config", params={"endpoint": "vpn.example.com"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert 'filename="phone.conf"' in r.headers["content-disposition"]
    conf = r.text
    assert f"PrivateKey = {keys['private_key']}" in conf
    assert f"PublicKey = {keygen.wg_public_key(server_private)}" in conf
    assert "Endpoint = vpn.example.com:51999" in conf and "PersistentKeepalive = 25" in conf
    assert (await client.get(f"{BASE}/wireguard/peers/ghost/config")).status_code == 404

    png = (
        await client.get(f"{BASE}/wireguard/qr", params={"peer": "phone", "endpoint": "vpn.example.com"})
    ).content
    assert png.startswith(b"\x89PNG")
    assert (await client.get(f"{BASE}/wireguard/qr", params={"text": "hello"})).content.startswith(b"\x89PNG")
    assert (await client.get(f"{BASE}/wireguard/qr")).status_code == 400
    assert (await client.get(f"{BASE}/wireguard/qr", params={"text": "x" * 4000})).status_code == 400

    r = await client.put(f"{BASE}/wireguard/peers/phone", json={**peer, "name": "tablet", "keepalive": 0})
    assert r.status_code == 200 and r.json()["name"] == "tablet"
    assert [p["name"] for p in (await client.get(f"{BASE}/wireguard")).json()["peers"]] == ["tablet"]
    assert (await client.put(f"{BASE}/wireguard/peers/phone", json=peer)).status_code == 404
    assert (await client.delete(f"{BASE}/wireguard/peers/tablet")).status_code == 200
    assert (await client.delete(f"{BASE}/wireguard/peers/tablet")).status_code == 404


async def test_wireguard_keys_match_wg_tools(client):
    """The generated key pair is what `wg pubkey` derives (real third-party check)."""
    wg = require_tool("wg")
    keys = (await client.post(f"{BASE}/wireguard/generate-key")).json()
    proc = await asyncio.create_subprocess_exec(
        wg, "pubkey", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    stdout, _ = await asyncio.wait_for(proc.communicate((keys["private_key"] + "\n").encode()), 10)
    assert stdout.decode().strip() == keys["public_key"]
    assert len(base64.b64decode(keys["private_key"])) == 32


async def test_unauthenticated_is_refused(tmp_path):
    node = make_node(tmp_path)
    async with api_client(node) as c:
        for path in ("/proxies", "/ss", "/l2tp", "/ikev2", "/wireguard"):
            assert (await c.get(f"{BASE}{path}")).status_code == 401
    node.store.close()


async def test_shadowsocks_2022_methods_and_psk_are_validated_and_stored(client) -> None:
    psk = base64.b64encode(bytes(range(32))).decode()
    body = {
        "listen": f"127.0.0.1:{free_port()}",
        "enabled": False,
        "method": "2022-blake3-aes-256-gcm",
        "psk": psk,
    }
    r = await client.put(f"{BASE}/ss", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["psk"] == psk and r.json()["method"] == "2022-blake3-aes-256-gcm"
    short = base64.b64encode(bytes(16)).decode()
    r = await client.put(f"{BASE}/ss", json={**body, "psk": short})
    assert r.status_code == 422 and "32 bytes" in r.json()["error"]
    r = await client.put(f"{BASE}/ss", json={**body, "method": "aes-256-gcm"})
    assert r.status_code == 422 and "2022" in r.json()["error"]
    assert (await client.get(f"{BASE}/ss")).json()["psk"] == psk


async def test_open_proxy_needs_explicit_no_auth(client) -> None:
    listen = f"127.0.0.1:{free_port()}"
    r = await client.post(f"{BASE}/proxies", json={"id": "open", "protocol": "socks5", "listen": listen})
    assert r.status_code == 200, r.text
    assert r.json()["no_auth"] is False
    r = await client.put(
        f"{BASE}/proxies/open", json={"protocol": "socks5", "listen": listen, "no_auth": True}
    )
    assert r.status_code == 200, r.text
    assert r.json()["no_auth"] is True
