"""POST /api/upgrade: refused outside a writable venv, bad bundles refused, a real wheel really installed."""

from __future__ import annotations

import asyncio
import sys

import pytest

from tests.integration.api_a_support import BASE, admin_token, api_client, make_node
from tests.unit.test_api_b_upgrade_checks import make_bundle, make_wheel


@pytest.fixture
async def client(tmp_path):
    node = make_node(tmp_path)
    async with api_client(node) as c:
        await admin_token(c)
        c.restarts = []  # type: ignore[attr-defined]
        # Never re-exec the test runner: record the restart instead.
        c.app.state.upgrade_restart = lambda: c.restarts.append(True)
        yield c
    node.store.close()


async def test_installs_a_real_wheel_offline_then_restarts(client, tmp_path):
    venv = tmp_path / "venv"
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "venv", "--without-pip", str(venv))
    assert await asyncio.wait_for(proc.wait(), 60) == 0
    target_python = str(venv / "bin" / "python")
    # The install goes into a throwaway venv (pip of this interpreter, pointed at it), not the test venv.
    client.app.state.upgrade_pip = [sys.executable, "-m", "pip", "--python", target_python]
    name, data = make_wheel(version="9.9.9")
    bundle = make_bundle({name: data})
    r = await client.post(
        f"{BASE}/upgrade", files={"file": ("hy2scale-9.9.9.tar.gz", bundle, "application/gzip")}
    )
    assert r.status_code == 200, r.text
    assert r.json()["version"] == "9.9.9"
    assert client.restarts == [True]
    check = await asyncio.create_subprocess_exec(
        target_python,
        "-c",
        "import importlib.metadata as m, hy2scale; print(m.version('hy2scale'), hy2scale.__version__)",
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(check.communicate(), 60)
    assert out.decode().split() == ["9.9.9", "9.9.9"]


async def test_bad_bundles_are_refused_without_restart(client):
    for body in (b"garbage", make_bundle({"readme.txt": b"x"}), make_bundle({})):
        r = await client.post(f"{BASE}/upgrade", content=body, headers={"Content-Type": "application/gzip"})
        assert r.status_code == 400, r.text
    # A well-formed bundle whose dependency is not in it fails in pip (offline) and is reported.
    # --dry-run: pip resolves against this interpreter without installing anything into it.
    client.app.state.upgrade_pip = [sys.executable, "-m", "pip", "--python", sys.executable, "--dry-run"]
    name, data = make_wheel(version="9.9.9", requires=("hy2scale-missing-dependency>=1",))
    r = await client.post(
        f"{BASE}/upgrade", files={"file": ("u.tar.gz", make_bundle({name: data}), "application/gzip")}
    )
    assert r.status_code == 400 and "pip install failed" in r.json()["error"]
    assert client.restarts == []


async def test_not_a_venv_is_a_conflict(client, monkeypatch):
    monkeypatch.setattr(sys, "prefix", sys.base_prefix)
    r = await client.post(f"{BASE}/upgrade", content=b"x", headers={"Content-Type": "application/gzip"})
    assert r.status_code == 409 and "virtualenv" in r.json()["error"]
    assert client.restarts == []


async def test_upgrade_needs_auth(tmp_path):
    node = make_node(tmp_path)
    async with api_client(node) as c:
        assert (await c.post(f"{BASE}/upgrade", content=b"x")).status_code == 401
    node.store.close()
