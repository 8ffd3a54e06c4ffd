"""GET /api/users with 10,000 users: p99 latency through the full API (auth, routing, shaping, JSON).

Reference, same run: a bare ASGI app that returns the same store rows as JSON with no framework,
auth or shaping, i.e. the floor the store itself sets. Both are driven in-process over ASGI.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import httpx

from hy2scale.accounts import Accounts
from hy2scale.api.app import create_app
from hy2scale.bus import ChangeBus
from hy2scale.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import emit, peak_rss_mb

USERS = 10_000
ROUNDS = 50


class _Node:
    """The parts GET /users touches on a running node: store, bus and the live accounts."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.bus = ChangeBus()
        self.relay = self.settings = None
        self.accounts = Accounts(self)


def _users() -> list[dict]:
    return [
        {
            "id": f"u{i:05d}",
            "username": f"user{i}",
            "password": f"password-{i}",
            "enabled": True,
            "traffic_used": i * 1000,
            "traffic_limit": 100 << 30,
            "expiry_date": "2030-01-01",
            "exit_via": "us",
            "exit_paths": ["us"],
            "exit_mode": "",
            "proxy_passwords": {},
            "proxy_disabled": [],
        }
        for i in range(USERS)
    ]


def _floor_app(store: Store):
    async def app(scope, receive, send):
        body = json.dumps(store.users.list(), separators=(",", ":")).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app


async def _p99(app, path: str, headers: dict[str, str]) -> float:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench", headers=headers) as client:
        await client.get(path)  # warm-up
        samples = []
        for _ in range(ROUNDS):
            start = time.perf_counter()
            response = await client.get(path)
            samples.append(time.perf_counter() - start)
            assert response.status_code == 200 and len(response.json()) == USERS
    samples.sort()
    return samples[int(len(samples) * 0.99) - 1] * 1000


async def main() -> None:
    with tempfile.TemporaryDirectory() as data:
        store = Store.open(Path(data))
        try:
            store.users.replace_all(_users())
            app = create_app(_Node(store))
            _, token = app.state.auth.create_api_token("bench")
            ours = await _p99(app, "/scale/api/users", {"Authorization": f"Bearer {token}"})
            floor = await _p99(_floor_app(store), "/", {})
        finally:
            store.close()
    emit(
        "api_get_users_10k_p99",
        "ms",
        ours,
        floor,
        users=USERS,
        rounds=ROUNDS,
        target_ms=100,
        peak_rss_mb=peak_rss_mb(),
    )


if __name__ == "__main__":
    asyncio.run(main())
