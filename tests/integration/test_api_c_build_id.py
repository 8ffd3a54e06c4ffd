"""GET /api/build-id follows index.html on disk without a page load in between."""

from __future__ import annotations

import hashlib
import os

import pytest

from tests.integration.api_a_support import BASE, api_client, make_node


@pytest.fixture
def node(tmp_path):
    (tmp_path / "data").mkdir()
    n = make_node(tmp_path / "data")
    yield n
    n.store.close()


async def test_build_id_changes_when_index_html_is_replaced(node, tmp_path, monkeypatch):
    dist = tmp_path / "dist"
    dist.mkdir()
    first = b"<!doctype html><html><head><title>v1</title></head><body></body></html>"
    (dist / "index.html").write_bytes(first)
    monkeypatch.setattr("hy2scale.api.ui.DEFAULT_DIST", dist)
    async with api_client(node) as client:
        r = await client.get(f"{BASE}/build-id")
        assert r.json()["build_id"] == hashlib.sha256(first).hexdigest()[:16]
        assert r.headers["cache-control"].startswith("no-cache")
        second = first.replace(b"v1", b"v2")
        replacement = dist / "index.html.new"
        replacement.write_bytes(second)
        stat = (dist / "index.html").stat()
        # A rebuild within the same clock tick must still be seen: force a different mtime.
        os.utime(replacement, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
        replacement.replace(dist / "index.html")
        r = await client.get(f"{BASE}/build-id")
        assert r.json()["build_id"] == hashlib.sha256(second).hexdigest()[:16]
        page = await client.get("/scale/")
        assert hashlib.sha256(second).hexdigest()[:16].encode() in page.content
        (dist / "index.html").unlink()
        r = await client.get(f"{BASE}/build-id")
        assert r.status_code == 200 and len(r.json()["build_id"]) == 16
