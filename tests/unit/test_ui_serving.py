"""The SPA handler: base-path redirect, injected globals, cache policy, not-built page."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from hy2scale.api.ui import build_id, inject_globals, mount_ui, normalize_base

INDEX = b'<!doctype html><html><head><meta charset="utf-8"></head><body><script src="./assets/app-1a2b.js"></script></body></html>'


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_bytes(INDEX)
    (tmp_path / "assets" / "app-1a2b.js").write_text("console.log(1)")
    (tmp_path / "logo.svg").write_text("<svg/>")
    return tmp_path


def client(dist: Path, base: str = "/scale") -> TestClient:
    app = FastAPI()

    @app.get(f"{normalize_base(base)}/api/ping")
    async def ping() -> dict:
        return {"ok": True}

    mount_ui(app, base, dist)
    return TestClient(app, follow_redirects=False)


def test_normalize_base() -> None:
    assert normalize_base("/scale/") == "/scale"
    assert normalize_base("scale") == "/scale"
    assert normalize_base("/") == ""
    assert normalize_base("") == ""


def test_inject_after_head_with_exact_literal() -> None:
    out = inject_globals(INDEX, "/scale", "abc")
    assert b'<head><script>window.__BASE__="/scale";window.__BUILD_ID__="abc";</script><meta' in out


def test_base_redirects_to_slash(dist: Path) -> None:
    res = client(dist).get("/scale?x=1")
    assert res.status_code == 301
    assert res.headers["location"] == "/scale/?x=1"


def test_spa_routes_get_injected_index_without_cache(dist: Path) -> None:
    c = client(dist)
    for path in ("/scale/", "/scale/users", "/scale/settings?tab=dns", "/scale/nodes/deep/link"):
        res = c.get(path)
        assert res.status_code == 200, path
        assert res.headers["cache-control"] == "no-cache, no-store, must-revalidate"
        assert f'window.__BUILD_ID__="{build_id(INDEX)}"'.encode() in res.content
        assert len(build_id(INDEX)) == 16


def test_hashed_assets_are_immutable_even_under_nested_routes(dist: Path) -> None:
    c = client(dist)
    for path in ("/scale/assets/app-1a2b.js", "/scale/nodes/assets/app-1a2b.js"):
        res = c.get(path)
        assert res.status_code == 200
        assert res.text == "console.log(1)"
        assert "immutable" in res.headers["cache-control"]
        assert res.headers["content-type"].startswith("text/javascript")
    assert c.get("/scale/assets/missing.js").status_code == 404
    assert c.get("/scale/logo.svg").headers["cache-control"] == "no-cache"


def test_api_paths_are_not_swallowed_and_traversal_is_refused(dist: Path) -> None:
    c = client(dist)
    assert c.get("/scale/api/ping").json() == {"ok": True}
    res = c.get("/scale/api/unknown")
    assert res.status_code == 404
    assert res.json() == {"error": "not found"}
    assert c.get("/scale/..%2F..%2Fetc%2Fpasswd.txt").status_code == 404


def test_root_base_path(dist: Path) -> None:
    c = client(dist, "/")
    assert b'window.__BASE__=""' in c.get("/").content
    assert c.get("/assets/app-1a2b.js").status_code == 200


def test_not_built_page(tmp_path: Path) -> None:
    res = client(tmp_path / "missing").get("/scale/")
    assert res.status_code == 503
    assert "make ui" in res.text
    assert "/scale/api/docs" in res.text


def test_rebuilt_index_is_picked_up_without_restart(dist: Path) -> None:
    c = client(dist)
    first = c.get("/scale/").content
    rebuilt = INDEX.replace(b"app-1a2b.js", b"app-9f9f.js")
    (dist / "index.html").write_bytes(rebuilt)
    second = c.get("/scale/").content
    assert b"app-9f9f.js" in second and first != second
    assert f'window.__BUILD_ID__="{build_id(rebuilt)}"'.encode() in second
