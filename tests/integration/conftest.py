"""Fixtures shared by the in-process API tests: a node on a temp store and a client for it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.api_a_support import ApiNode, api_client, api_token, make_node


@pytest.fixture
def node(tmp_path: Path) -> Iterator[ApiNode]:
    n = make_node(tmp_path)
    yield n
    n.store.close()


@pytest.fixture
async def client(node: ApiNode) -> AsyncIterator[httpx.AsyncClient]:
    """Authenticated with a long-lived API token (no argon2 round trips)."""
    async with api_client(node) as c:
        api_token(c)
        c.node = node  # type: ignore[attr-defined]
        yield c
