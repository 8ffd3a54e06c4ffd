"""The app factory: base path, OpenAPI/docs, error shapes, session expiry with a controlled clock."""

from __future__ import annotations

import httpx
import pytest

from hy2scale.api.app import create_app, normalize_base_path
from hy2scale.api.auth import API_TOKEN_PREFIX, AuthService
from tests.integration.api_a_support import BASE, api_client, api_token, make_node, sha


@pytest.fixture
def node(tmp_path):
    n = make_node(tmp_path)
    yield n
    n.store.close()


@pytest.mark.parametrize(
    ("raw", "expected"), [(None, "/scale"), ("/scale/", "/scale"), ("x", "/x"), ("/", ""), ("", "")]
)
def test_normalize_base_path(raw, expected):
    assert normalize_base_path(raw) == expected


async def test_openapi_and_docs(node):
    async with api_client(node) as c:
        spec = (await c.get(f"{BASE}/openapi.json")).json()
        assert f"{BASE}/users" in spec["paths"]
        assert "HTTPBearer" in spec["components"]["securitySchemes"]
        docs = await c.get(f"{BASE}/docs")
        assert docs.status_code == 200 and "swagger" in docs.text.lower()


async def test_other_base_path(node):
    app = create_app(node, base_path="/admin/")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        r = await c.post("/admin/api/login", json={"username": "admin", "password": sha("nope")})
        assert r.status_code == 401
        assert (await c.get("/admin/api/openapi.json")).status_code == 200


async def test_error_shapes(node):
    async with api_client(node) as c:
        api_token(c)
        r = await c.get(f"{BASE}/no-such-thing")
        assert r.status_code == 404
        assert r.json()["error"].lower() == "not found"
        r = await c.patch(f"{BASE}/users")
        assert r.status_code == 405
        assert "error" in r.json()


async def test_sessions_expire_and_slide(node):
    clock = [1_000_000.0]
    auth = AuthService(node.store, clock=lambda: clock[0])
    token, force = await auth.login("admin", sha("admin"))
    assert force is True
    timeout = auth.session_timeout_s()
    assert timeout == 12 * 3600
    clock[0] += timeout - 10
    assert auth.check_token(token) is not None  # used just before expiry: slides
    clock[0] += timeout - 10
    assert auth.check_token(token) is not None
    clock[0] += timeout + 1
    assert auth.check_token(token) is None
    assert node.store.api_sessions.list() == []


async def test_session_timeout_setting_is_read_live(node):
    clock = [0.0]
    auth = AuthService(node.store, clock=lambda: clock[0])
    node.store.sections.put("ui", {**node.store.sections.get("ui"), "session_timeout_h": 1})
    token, _ = await auth.login("admin", sha("admin"))
    clock[0] += 3601
    assert auth.check_token(token) is None
    assert auth.purge_expired() == 0


async def test_api_token_secret_is_not_stored(node):
    auth = AuthService(node.store)
    record, secret = auth.create_api_token("ci")
    assert secret.startswith(API_TOKEN_PREFIX)
    stored = node.store.api_tokens.list()
    assert all(secret not in str(v) for row in stored for v in row.values())
    assert auth.check_token(secret).token_id == record["id"]
    assert auth.check_token(secret + "x") is None


async def test_real_node_first_run_admin(tmp_path):
    from hy2scale.node import Node

    real = Node(tmp_path)
    try:
        async with api_client(real) as c:
            r = await c.post(f"{BASE}/login", json={"username": "admin", "password": sha("admin")})
            assert r.status_code == 200
            assert r.json()["force_password_change"] is True
            c.headers["Authorization"] = f"Bearer {r.json()['token']}"
            assert (await c.get(f"{BASE}/node")).status_code == 403
            assert c.app.state.base_path == "/scale"
    finally:
        real.close()


async def test_oversized_json_body_is_refused(node):
    async with api_client(node) as c:
        api_token(c)
        big = b'{"a": {"x": 1, "y": 1}, "pad": "' + b"x" * (5 << 20) + b'"}'
        r = await c.put(f"{BASE}/graph-layout", content=big, headers={"Content-Type": "application/json"})
        assert r.status_code == 413
        assert "error" in r.json()
        assert (await c.get(f"{BASE}/graph-layout")).json() == {}
