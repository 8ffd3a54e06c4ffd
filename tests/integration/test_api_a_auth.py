"""Admin auth over the real app and store: login, forced password change, tokens, throttling."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.integration.api_a_support import (
    BASE,
    NEW_PASSWORD,
    admin_token,
    api_client,
    login,
    make_node,
    sha,
)


@pytest.fixture
def node(tmp_path):
    n = make_node(tmp_path)
    yield n
    n.store.close()


async def test_login_wrong_password_is_401(node):
    async with api_client(node) as c:
        r = await c.post(f"{BASE}/login", json={"username": "admin", "password": sha("nope")})
        assert r.status_code == 401
        assert r.json() == {"error": "invalid credentials"}


async def test_first_login_forces_password_change(node):
    async with api_client(node) as c:
        r = await c.post(f"{BASE}/login", json={"username": "admin", "password": sha("admin")})
        assert r.status_code == 200
        body = r.json()
        assert body["force_password_change"] is True
        assert len(body["token"]) == 32
        auth = {"Authorization": f"Bearer {body['token']}"}
        r = await c.get(f"{BASE}/tokens", headers=auth)
        assert r.status_code == 403
        assert "password change required" in r.json()["error"]
        r = await c.put(
            f"{BASE}/settings/password",
            json={"current_password": sha("admin"), "new_password": sha(NEW_PASSWORD)},
            headers=auth,
        )
        assert r.status_code == 200
        assert (await c.get(f"{BASE}/tokens", headers=auth)).status_code == 200
        r = await c.post(f"{BASE}/login", json={"username": "admin", "password": sha(NEW_PASSWORD)})
        assert r.json()["force_password_change"] is False


async def test_unauthenticated_and_bad_token(node):
    async with api_client(node) as c:
        assert (await c.get(f"{BASE}/tokens")).status_code == 401
        r = await c.get(f"{BASE}/tokens", headers={"Authorization": "Bearer deadbeef"})
        assert r.status_code == 401
        assert r.json() == {"error": "unauthorized"}
        r = await c.get(f"{BASE}/tokens", headers={"Authorization": "Basic abc"})
        assert r.status_code == 401


async def test_query_token_and_logout(node):
    async with api_client(node) as c:
        token = await admin_token(c)
        del c.headers["Authorization"]
        assert (await c.get(f"{BASE}/tokens", params={"token": token})).status_code == 200
        r = await c.post(f"{BASE}/logout", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200
        assert (await c.get(f"{BASE}/tokens", params={"token": token})).status_code == 401


async def test_password_change_wrong_current_and_other_sessions_dropped(node):
    async with api_client(node) as c:
        token = await admin_token(c)
        other = await login(c, NEW_PASSWORD)
        r = await c.put(f"{BASE}/settings/password", json={"current_password": sha("wrong")})
        assert r.status_code == 403
        assert r.json() == {"error": "current password incorrect"}
        r = await c.put(
            f"{BASE}/settings/password",
            json={"current_password": sha(NEW_PASSWORD), "new_username": "root"},
        )
        assert r.status_code == 200
        assert (
            await c.get(f"{BASE}/tokens", headers={"Authorization": f"Bearer {other}"})
        ).status_code == 401
        assert (
            await c.get(f"{BASE}/tokens", headers={"Authorization": f"Bearer {token}"})
        ).status_code == 200
        await login(c, NEW_PASSWORD, username="root")
        r = await c.put(
            f"{BASE}/settings/password", json={"current_password": sha(NEW_PASSWORD), "new_password": "x"}
        )
        assert r.status_code == 422


async def test_sessions_survive_a_new_app(node):
    async with api_client(node) as c:
        token = await admin_token(c)
    async with api_client(node, token) as c:
        assert (await c.get(f"{BASE}/tokens")).status_code == 200


async def test_api_tokens_create_list_revoke(node):
    async with api_client(node) as c:
        await admin_token(c)
        r = await c.post(f"{BASE}/tokens", json={"name": "ci"})
        assert r.status_code == 200
        created = r.json()
        secret = created["token"]
        listed = (await c.get(f"{BASE}/tokens")).json()
        assert [t["name"] for t in listed] == ["ci"]
        assert "token" not in listed[0]
        r = await c.get(f"{BASE}/tokens", headers={"Authorization": f"Bearer {secret}"})
        assert r.status_code == 200
        assert (await c.delete(f"{BASE}/tokens/{created['id']}")).status_code == 200
        assert (await c.delete(f"{BASE}/tokens/{created['id']}")).status_code == 404
        r = await c.get(f"{BASE}/tokens", headers={"Authorization": f"Bearer {secret}"})
        assert r.status_code == 401
        assert (await c.post(f"{BASE}/tokens", json={"name": ""})).status_code == 422


async def test_brute_force_is_throttled_per_address(node):
    async with api_client(node) as c:
        throttle = c.app.state.login_throttle
        for _ in range(throttle.max_failures):
            r = await c.post(f"{BASE}/login", json={"username": "admin", "password": sha("guess")})
            assert r.status_code == 401
        r = await c.post(f"{BASE}/login", json={"username": "admin", "password": sha("admin")})
        assert r.status_code == 429
        assert int(r.headers["Retry-After"]) > 0
        assert "too many" in r.json()["error"]
        # the correct password from another address still works
        transport = httpx.ASGITransport(app=c.app, client=("10.1.2.3", 4000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
            await login(other)


async def test_malformed_json_is_400(node):
    async with api_client(node) as c:
        r = await c.post(f"{BASE}/login", content=b"{nope", headers={"Content-Type": "application/json"})
        assert r.status_code == 400
        assert "error" in r.json()
        r = await c.post(f"{BASE}/login", json={"username": 5})
        assert r.status_code == 422


# One representative request per resource of this half: all need a token, and all refuse a session
# that still has to change the first-run password.
GUARDED = [
    ("GET", "/node", None),
    ("PUT", "/node", {"name": "x"}),
    ("GET", "/node/share-url", None),
    ("GET", "/stats", None),
    ("GET", "/topology", None),
    ("GET", "/peers", None),
    ("PUT", "/peers/jp/nested", {"enabled": True}),
    ("PUT", "/peers/jp/disable", {"disabled": True}),
    ("GET", "/clients", None),
    ("POST", "/clients", {"name": "jp", "addr": "jp:1", "password": "p"}),
    ("DELETE", "/clients/jp", None),
    ("GET", "/users", None),
    ("POST", "/users", {"username": "a", "password": "b"}),
    ("POST", "/users/bulk", {"action": "enable", "ids": ["x"]}),
    ("GET", "/users/conflicts", None),
    ("GET", "/sessions", None),
    ("DELETE", "/sessions/a|b|c", None),
    ("GET", "/rules", None),
    ("PUT", "/rules/tun-mode", {"enabled": True}),
    ("GET", "/graph-layout", None),
    ("PUT", "/graph-layout", {}),
    ("GET", "/graph-layout/stream", None),
    ("GET", "/tokens", None),
    ("POST", "/tokens", {"name": "x"}),
]


async def test_every_resource_needs_auth_and_a_changed_password(node):
    async with api_client(node) as c:
        token = await login(c)
        forced = {"Authorization": f"Bearer {token}"}
        for method, path, body in GUARDED:
            r = await c.request(method, f"{BASE}{path}", json=body)
            assert r.status_code == 401, (method, path, r.status_code)
            r = await c.request(method, f"{BASE}{path}", json=body, headers=forced)
            assert r.status_code == 403, (method, path, r.status_code)
            assert r.json()["error"].startswith("password change required")
        # logout is allowed while forced
        assert (await c.post(f"{BASE}/logout", headers=forced)).status_code == 200


async def test_concurrent_logins_run_argon2_a_few_at_a_time(node, monkeypatch):
    """Each argon2 call takes 64 MiB: a burst of logins must not run them all at once."""
    import threading
    import time as _time

    from hy2scale.api import auth as auth_module

    active = 0
    peak = 0
    lock = threading.Lock()

    def slow_verify(stored: str, candidate: str) -> bool:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        _time.sleep(0.1)
        with lock:
            active -= 1
        return False

    monkeypatch.setattr(auth_module, "verify_secret", slow_verify)
    service = auth_module.AuthService(node.store)
    results = await asyncio.gather(*(service.check_credentials("admin", "0" * 64) for _ in range(8)))
    assert results == [False] * 8
    assert peak == auth_module.ARGON2_CONCURRENCY
