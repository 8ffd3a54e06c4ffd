"""Share links, QR and subscriptions through the FastAPI routers (authless app around our routers)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import unquote

import httpx
import pytest
import yaml
from fastapi import FastAPI

from hy2scale.api.errors import install_error_handlers
from hy2scale.api.routers.share import router, sub_router
from tests.unit.test_svc_fixtures import make_node, user

PSK16 = base64.b64encode(b"k" * 16).decode()


def share_node(tmp_path: Path) -> SimpleNamespace:
    node = make_node(
        tmp_path,
        [
            user("alice", "a:pw@1", proxy_passwords={"hy2": "alice-hy2", "ss": PSK16}),
            user("bob", "bob-pw", proxy_disabled=["hy2", "ss", "http"]),
        ],
    )
    node.store.sections.put("node", {**node.store.sections.get("node"), "hy2_user_auth": True})
    node.store.sections.put("server", {**node.store.sections.get("server"), "listen": "0.0.0.0:5565"})
    node.store.sections.put(
        "shadowsocks", {"listen": "0.0.0.0:8388", "enabled": True, "method": "2022-blake3-aes-128-gcm"}
    )
    node.store.proxies.create(
        {"id": "socks5", "protocol": "socks5", "listen": "0.0.0.0:1080", "enabled": True}
    )
    node.store.proxies.create(
        {"id": "web", "protocol": "http", "listen": "10.1.2.3:8080", "enabled": True, "tls_cert": "c1"}
    )
    return node


def client_for(node: SimpleNamespace) -> httpx.AsyncClient:
    app = FastAPI()
    app.state.node = node
    app.state.base_path = "/scale"
    install_error_handlers(app)
    app.include_router(router, prefix="/scale/api")
    app.include_router(sub_router, prefix="/scale")
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://vpn.example.com")


async def test_share_links_per_user(tmp_path: Path) -> None:
    node = share_node(tmp_path)
    async with client_for(node) as client:
        body = (await client.get("/scale/api/users/id-alice/share")).json()
        links = {link["proxy"]: link["uri"] for link in body["links"]}
        assert links["hy2"] == "hysteria2://alice-hy2@vpn.example.com:5565/?insecure=1#alice"
        userinfo, _, where = links["ss"].removeprefix("ss://").partition("@")
        method, _, keys = unquote(userinfo).partition(":")
        server_psk, _, user_psk = keys.partition(":")
        assert (method, user_psk, where) == ("2022-blake3-aes-128-gcm", PSK16, "vpn.example.com:8388#alice")
        assert len(base64.b64decode(server_psk)) == 16
        assert links["socks5"] == "socks5://alice:a%3Apw%401@vpn.example.com:1080#alice"
        assert links["http"] == "https://alice:a%3Apw%401@10.1.2.3:8080#alice"
        assert body["subscription"].startswith("http://vpn.example.com/scale/sub/")
        bob = (await client.get("/scale/api/users/id-bob/share?host=h.example")).json()
        assert [link["uri"] for link in bob["links"]] == ["socks5://bob:bob-pw@h.example:1080#bob"]
        assert (await client.get("/scale/api/users/nobody/share")).status_code == 404
        qr = await client.get("/scale/api/users/id-alice/qr?proxy=ss")
        assert qr.status_code == 200 and qr.headers["content-type"] == "image/png"
        assert qr.content.startswith(b"\x89PNG\r\n\x1a\n")
        assert (await client.get("/scale/api/users/id-bob/qr?proxy=hy2")).status_code == 404


@pytest.mark.parametrize(
    ("query", "agent", "kind"),
    [
        ("", "curl/8", "base64"),
        ("?format=uri", "", "uri"),
        ("", "sing-box 1.14", "singbox"),
        ("", "mihomo/1.19", "clash"),
    ],
)
async def test_subscription_formats(tmp_path: Path, query: str, agent: str, kind: str) -> None:
    node = share_node(tmp_path)
    async with client_for(node) as client:
        sub = (await client.get("/scale/api/users/id-alice/share")).json()["subscription"]
        response = await client.get(
            sub.removeprefix("http://vpn.example.com") + query, headers={"user-agent": agent}
        )
        assert response.status_code == 200
        if kind == "base64":
            uris = base64.b64decode(response.text).decode().splitlines()
        elif kind == "uri":
            uris = response.text.splitlines()
        if kind in ("base64", "uri"):
            assert [u.split("://")[0] for u in uris] == ["hysteria2", "ss", "socks5", "https"]
        elif kind == "singbox":
            outbounds = json.loads(response.text)["outbounds"]
            assert [o["type"] for o in outbounds] == ["hysteria2", "shadowsocks", "socks", "http"]
            assert outbounds[0]["password"] == "alice-hy2" and outbounds[0]["server_port"] == 5565
        else:
            doc = yaml.safe_load(response.text)
            assert [p["type"] for p in doc["proxies"]] == ["hysteria2", "ss", "socks5", "http"]
            assert doc["proxy-groups"][0]["proxies"] == [p["name"] for p in doc["proxies"]]
        assert (await client.get("/scale/sub/0123456789abcdef0123456789abcdef")).status_code == 404
        # A password change revokes the old subscription link.
        node.store.users.update("id-alice", {"password": "new"})
        assert (await client.get(sub.removeprefix("http://vpn.example.com"))).status_code == 404


def test_subscription_token_lookup_rejects_non_ascii_without_error(tmp_path) -> None:
    from types import SimpleNamespace

    from hy2scale.accounts.users import User
    from hy2scale.services.share import sub_token, user_for_token
    from hy2scale.store import Store

    store = Store.open(tmp_path)
    try:
        node = SimpleNamespace(store=store)
        alice = User(id="u1", username="alice", password="alice-pass")
        assert user_for_token(node, [alice], sub_token(node, alice)) is alice
        assert user_for_token(node, [alice], "ünïcode-token") is None
    finally:
        store.close()


async def test_subscription_lookup_follows_the_live_users_index(tmp_path: Path) -> None:
    """With live accounts, /sub answers from a token index: no store scan per request, and a
    password change (seen by the accounts index) revokes the old link at once."""
    from hy2scale.accounts import Accounts
    from hy2scale.services.share import sub_token

    node = share_node(tmp_path)
    node.accounts = Accounts(node)
    scans = 0
    list_users = node.store.users.list

    def counting_list() -> list:
        nonlocal scans
        scans += 1
        return list_users()

    node.store.users.list = counting_list
    async with client_for(node) as client:
        sub = (await client.get("/scale/api/users/id-alice/share")).json()["subscription"]
        path = sub.removeprefix("http://vpn.example.com")
        scans = 0
        for _ in range(5):
            assert (await client.get(path + "?format=uri")).status_code == 200
            assert (await client.get("/scale/sub/0123456789abcdef0123456789abcdef")).status_code == 404
        assert scans == 0
        node.store.users.update("id-alice", {"password": "new-password"})
        node.accounts.reload()
        assert (await client.get(path)).status_code == 404
        alice = next(u for u in node.accounts.users() if u.username == "alice")
        assert (await client.get(f"/scale/sub/{sub_token(node, alice)}")).status_code == 200
