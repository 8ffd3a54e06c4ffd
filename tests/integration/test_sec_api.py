"""Security review of the API auth boundary: every route is authed, the forced password change holds,
and an anonymous client cannot make the API buffer an unbounded body."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

from tests.integration.api_a_support import BASE, api_client, login

# Routes an anonymous client may reach, by design (api.md: login, build id, the subscription).
PUBLIC = {("post", f"{BASE}/login"), ("get", f"{BASE}/build-id"), ("get", "/scale/sub/{token}")}
# Reachable without a token but gated otherwise: relay-only, or a session during the forced change.
GATED = {("get", f"{BASE}/internal/peers")}
SESSION_ONLY = {("post", f"{BASE}/logout"), ("put", f"{BASE}/settings/password")}
CHUNK = 64 * 1024


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


async def _operations(client) -> list[tuple[str, str, dict]]:
    spec = (await client.get(f"{BASE}/openapi.json")).json()
    ops = [(m, p, op) for p, item in spec["paths"].items() for m, op in item.items()]
    assert len(ops) > 80  # the whole API is there, not a stub
    return ops


async def test_every_route_but_the_public_ones_needs_a_token(node):
    async with api_client(node) as c:
        for method, path, _ in await _operations(c):
            if (method, path) in PUBLIC:
                continue
            r = await c.request(method.upper(), _concrete(path))
            expected = 403 if (method, path) in GATED else 401
            assert r.status_code == expected, (method, path, r.status_code)
        assert (await c.get("/scale/remote/b/scale/")).status_code == 401


async def test_forced_password_change_blocks_every_authed_route(node):
    async with api_client(node) as c:
        token = await login(c)
        c.headers["Authorization"] = f"Bearer {token}"
        for method, path, _ in await _operations(c):
            if (method, path) in PUBLIC | GATED | SESSION_ONLY or path.endswith(("/stream", "/events")):
                continue
            r = await c.request(method.upper(), _concrete(path))
            assert r.status_code == 403, (method, path, r.status_code)
            assert "password change required" in r.json()["error"]
        # The remote proxy does not accept a session that still has to change the password either.
        r = await c.get("/scale/remote/b/scale/", params={"token": token})
        assert r.status_code == 401


async def test_anonymous_json_bodies_are_capped_before_auth(node):
    """FastAPI parses a JSON body before the auth dependency: every JSON route needs a body cap."""
    async with api_client(node) as c:
        json_routes = [
            (m, p)
            for m, p, op in await _operations(c)
            if "application/json" in op.get("requestBody", {}).get("content", {})
        ]
        assert len(json_routes) > 20
        for method, path in json_routes:
            consumed = 0

            async def body() -> AsyncIterator[bytes]:
                nonlocal consumed
                yield b'{"a":"'
                for _ in range(160):  # 10 MiB, more than the 4 MiB JSON cap
                    consumed += 1
                    yield b"x" * CHUNK
                yield b'"}'

            r = await c.request(
                method.upper(), _concrete(path), content=body(), headers={"content-type": "application/json"}
            )
            assert r.status_code in (401, 403, 413), (method, path, r.status_code)
            assert consumed * CHUNK <= (4 << 20) + CHUNK, (method, path, consumed)
