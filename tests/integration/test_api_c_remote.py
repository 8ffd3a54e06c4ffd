"""/remote/{chain}/…: a peer's UI and API through real relay managers linked over hy2 on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from hy2scale.api.app import create_app
from hy2scale.api.errors import ApiError
from hy2scale.api.routers.remote import COOKIE, parse_target, rewrite_location
from hy2scale.hysteria import Hy2Server, ServerConfig
from hy2scale.hysteria.direct import DirectHandler
from tests.conftest import free_port
from tests.integration.api_a_support import api_client, make_node, sha
from tests.integration.test_api_a_sse import next_frame, serve
from tests.integration.test_relay_hy2_links import PASSWORD, Hy2Net
from tests.integration.test_relay_mesh_memory import until

INDEX = b'<!doctype html><html><head><title>hy2scale</title></head><body><div id="root"></div></body></html>'
ASSET = bytes(range(256)) * 800  # 200 KiB: several relay reads


@pytest.fixture
async def mesh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Hy2Net]:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_bytes(INDEX)
    (dist / "assets" / "app.js").write_bytes(ASSET)
    monkeypatch.setattr("hy2scale.api.ui.DEFAULT_DIST", dist)
    net = Hy2Net(tmp_path)
    a = await net.node("a")
    b = await net.node("b")
    a.node.relay = a
    b.node.app = create_app(b.node)
    await net.link("a", "b")
    await until(lambda: a.mesh.peers.get("b") is not None, 15)
    yield net
    await net.close()


def test_parse_target() -> None:
    assert parse_target("b/scale/") == parse_target("b/scale")
    assert parse_target("b/scale/").path == "/scale/"
    t = parse_target("b/c/api/peers/us%2Fx/nested")
    assert (t.chain, t.path) == ("b/c", "/scale/api/peers/us%2Fx/nested")
    assert parse_target("b/scale/assets/app.js").path == "/scale/assets/app.js"
    assert parse_target("b/nodes").path == "/scale/nodes"
    for bad, message in (("", "usage"), ("api/x", "missing peer chain"), ("b%22/api", "invalid peer")):
        with pytest.raises(ApiError, match=message):
            parse_target(bad)


def test_rewrites() -> None:
    assert rewrite_location("/scale/login", "/p/remote/b") == "/p/remote/b/login"
    assert rewrite_location("https://example.com/", "/p/remote/b") == "https://example.com/"


async def test_remote_ui_and_api_through_the_relay(mesh: Hy2Net) -> None:
    a = mesh.nodes["a"][0]
    async with api_client(a.node) as client:
        _, local = client.app.state.auth.create_api_token("tests")
        # No local credentials: refused before anything is dialed.
        assert (await client.get("/scale/remote/b/scale/")).status_code == 401
        assert (await client.get("/scale/remote/b/scale/?token=wrong")).status_code == 401

        r = await client.get("/scale/remote/b/scale/?tab=x&token=" + local)
        assert r.status_code == 303 and r.headers["location"] == "/scale/remote/b/scale/?tab=x"
        cookie = r.headers["set-cookie"]
        assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "Path=/scale/remote/b/" in cookie
        client.cookies.set(COOKIE, local)

        # Pages are our own bundle pointed at the proxied API; no peer page runs on this origin.
        (mesh.tmp / "dist" / "index.html").write_bytes(INDEX.replace(b"hy2scale", b"local bundle"))
        page = await client.get("/scale/remote/b/scale/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert b'window.__BASE__="/scale/remote/b";window.__PROXY__=true;window.__BUILD_ID__=' in page.content
        assert b"local bundle" in page.content
        assert (await client.get("/scale/remote/b/nodes")).content == page.content
        assert (await client.get("/scale/remote/b/scale/assets/app.js")).content == ASSET
        # Our own token in the query is never forwarded to the peer, even with the cookie set.
        r = await client.get(f"/scale/remote/b/api/x%2Fy?token={local}&a=1")
        assert r.status_code == 303 and r.headers["location"] == "/scale/remote/b/api/x%2Fy?a=1"

        # The remote API with the remote node's own token (login body and Authorization forwarded).
        r = await client.post(
            "/scale/remote/b/api/login", json={"username": "admin", "password": sha("admin")}
        )
        assert r.status_code == 200, r.text
        remote_token = r.json()["token"]
        assert remote_token != local
        headers = {"Authorization": f"Bearer {remote_token}"}
        r = await client.get("/scale/remote/b/api/node", headers=headers)
        assert r.status_code == 403 and "password change" in r.json()["error"]  # b's first-run admin
        r = await client.get("/scale/remote/b/api/build-id")
        assert r.status_code == 200 and len(r.json()["build_id"]) == 16
        # Whatever the peer answers is sandboxed and cannot set cookies on this origin.
        assert r.headers["content-security-policy"] == "sandbox"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert (await client.get("/scale/remote/b/api/node")).status_code == 401  # b checks b's token

        r = await client.get("/scale/remote/b/scale/", headers={"X-Hy2scale-Proxy": "true"})
        assert r.status_code == 403 and r.json()["error"] == "proxy chaining not allowed"

        r = await client.get("/scale/remote/zz/api/node")
        assert r.status_code == 502 and r.json()["error"].startswith("tunnel to zz failed")


async def test_no_relay_is_502(tmp_path: Path) -> None:
    node = make_node(tmp_path)
    try:
        async with api_client(node) as client:
            _, local = client.app.state.auth.create_api_token("tests")
            client.cookies.set(COOKIE, local)
            r = await client.get("/scale/remote/b/api/node")
            assert r.status_code == 502 and "relay is not running" in r.json()["error"]
    finally:
        node.store.close()


async def test_sse_streams_through_the_proxy_and_is_released(mesh: Hy2Net) -> None:
    a, b = mesh.nodes["a"][0], mesh.nodes["b"][0]
    app = create_app(a.node)
    _, local = app.state.auth.create_api_token("tests")
    _, remote = b.node.app.state.auth.create_api_token("tests")
    opened = []
    dial = a.open_api

    async def recording_dial(path: str):
        opened.append(await dial(path))
        return opened[-1]

    a.open_api = recording_dial
    async with (
        serve(app) as url,
        httpx.AsyncClient(base_url=url, timeout=10, cookies={COOKIE: local}) as http,
    ):
        stream_url = "/scale/remote/b/api/graph-layout/stream"
        async with http.stream("GET", stream_url, params={"token": remote}) as events:
            assert events.status_code == 200
            assert events.headers["content-type"].startswith("text/event-stream")
            lines = events.aiter_lines()
            assert await asyncio.wait_for(next_frame(lines), 5) == {}
            layout = {"self": {"x": 1.0, "y": 2.0}}
            r = await http.put(
                "/scale/remote/b/api/graph-layout",
                json={"positions": layout},
                headers={"Authorization": f"Bearer {remote}"},
            )
            assert r.status_code == 200, r.text
            assert await asyncio.wait_for(next_frame(lines), 5) == layout
        # Closing the browser's stream closes the relay stream it was reading.
        assert len(opened) == 2
        await asyncio.wait_for(opened[0].wait_closed(), 5)


async def test_plain_hysteria_peer_has_no_ui(mesh: Hy2Net) -> None:
    a = mesh.nodes["a"][0]
    port = free_port()
    plain = Hy2Server(
        ServerConfig(listen=f"127.0.0.1:{port}", cert=mesh.cert, key=mesh.key), DirectHandler([PASSWORD])
    )
    await plain.start()
    try:
        a.store.clients.create(
            {"name": "n", "addr": f"127.0.0.1:{port}", "password": PASSWORD, "insecure": True}
        )
        await a.node.bus.publish("clients")
        await until(lambda: a.mesh.peers.get("n") is not None and a.mesh.peers.get("n").native, 15)
        async with api_client(a.node) as client:
            _, local = client.app.state.auth.create_api_token("tests")
            client.cookies.set(COOKIE, local)
            r = await client.get("/scale/remote/n/scale/")
            assert r.status_code == 409 and "plain Hysteria 2 server" in r.json()["error"]
    finally:
        await plain.stop()
