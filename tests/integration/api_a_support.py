"""Helpers for the API tests: a node made of the real store and bus, an in-process client, login."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from hy2scale.api.app import create_app
from hy2scale.bus import ChangeBus
from hy2scale.store import Store

BASE = "/scale/api"
NEW_PASSWORD = "correct horse battery staple"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class ApiNode:
    """The parts of a node the API touches; live parts (relay, accounts) are absent unless a test sets them."""

    store: Store
    bus: ChangeBus = field(default_factory=ChangeBus)
    relay: Any = None
    accounts: Any = None
    settings: Any = None
    published: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        from hy2scale.bus import TOPICS

        for topic in TOPICS:
            self.bus.subscribe(topic, self.published.append)


def make_node(data_dir: Path) -> ApiNode:
    store = Store.open(data_dir)
    sections = store.sections
    sections.put("node", {**sections.get("node"), "node_id": "ab12cd34", "name": "self-node"})
    sections.put("server", {**sections.get("server"), "password": "server-secret-123"})
    return ApiNode(store=store)


@asynccontextmanager
async def api_client(node: Any, token: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(node)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=headers) as c:
        c.app = app  # type: ignore[attr-defined]
        yield c


async def login(client: httpx.AsyncClient, password: str = "admin", username: str = "admin") -> str:
    r = await client.post(f"{BASE}/login", json={"username": username, "password": sha(password)})
    assert r.status_code == 200, r.text
    return r.json()["token"]


def api_token(client: httpx.AsyncClient) -> str:
    """A long-lived API token minted directly (no argon2 round trips), set on the client."""
    _, secret = client.app.state.auth.create_api_token("tests")  # type: ignore[attr-defined]
    client.headers["Authorization"] = f"Bearer {secret}"
    return secret


async def admin_token(client: httpx.AsyncClient) -> str:
    """Logs in as the first-run admin, clears the forced password change, and returns a working token."""
    token = await login(client)
    r = await client.put(
        f"{BASE}/settings/password",
        json={"current_password": sha("admin"), "new_password": sha(NEW_PASSWORD)},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200, r.text
    client.headers["Authorization"] = f"Bearer {token}"
    return token
