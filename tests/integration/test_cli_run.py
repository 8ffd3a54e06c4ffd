"""``hy2scale run`` as a subprocess: API up under /scale, admin/admin login, clean SIGTERM, first-run values
kept across restarts, and clear failures that leave the data untouched."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import sqlite3
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hy2scale.keygen import sha256_hex
from hy2scale.node import Node
from tests.conftest import free_port
from tests.fixtures.node_process import NodeProcess, hy2scale

ADMIN_SHA = sha256_hex("admin")


def _stored_first_run(data: Path) -> dict:
    conn = sqlite3.connect(data / "hy2scale.db")
    try:
        rows = dict(conn.execute("SELECT name, data FROM sections").fetchall())
        admin = conn.execute("SELECT username, password_hash, force_password_change FROM admin").fetchone()
    finally:
        conn.close()
    return {"sections": rows, "admin": admin}


def test_run_serves_login_and_stops_on_sigterm(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with NodeProcess(data) as node:
        r = httpx.post(
            f"{node.base}/api/login", json={"username": "admin", "password": ADMIN_SHA}, timeout=10
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["token"]) == 32 and body["force_password_change"] is True
        bad = httpx.post(
            f"{node.base}/api/login", json={"username": "admin", "password": "0" * 64}, timeout=10
        )
        assert bad.status_code == 401
        build = httpx.get(f"{node.base}/api/build-id", timeout=10)
        assert node.stop() == 0, node.output()
    if build.status_code == 404:
        pytest.skip("GET /api/build-id is not served by create_app yet (API part)")
    assert build.status_code == 200 and isinstance(build.json()["build_id"], str)


def test_sigint_stops_cleanly_too(tmp_path: Path) -> None:
    with NodeProcess(tmp_path / "data") as node:
        assert node.proc is not None
        node.proc.send_signal(signal.SIGINT)
        assert node.proc.wait(timeout=20) == 0, node.output()
    output = node.output()
    assert "event=node_stopped" in output
    # One line per event, key=value context (logging_setup).
    for line in output.splitlines():
        assert re.match(r"^\S+ level=[A-Z]+ logger=\S+ ", line), line


def test_first_run_values_persist_across_restarts(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with NodeProcess(data) as node:
        assert node.stop() == 0, node.output()
    first = _stored_first_run(data)
    tls = data / "tls"
    cert_before = (tls / "default.crt").read_bytes()
    assert stat.S_IMODE((data / "hy2scale.db").stat().st_mode) == 0o600
    assert stat.S_IMODE((tls / "default.key").stat().st_mode) == 0o600
    with NodeProcess(data) as node:
        assert node.stop() == 0, node.output()
    assert _stored_first_run(data) == first
    assert (tls / "default.crt").read_bytes() == cert_before


def test_reset_admin(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    Node(data).close()  # first run only
    conn = sqlite3.connect(data / "hy2scale.db")
    conn.execute("UPDATE admin SET username='root', force_password_change=0")
    conn.commit()
    conn.close()
    result = hy2scale("reset-admin", "--data", str(data))
    assert result.returncode == 0, result.stderr
    username, _hash, force = _stored_first_run(data)["admin"]
    assert username == "admin" and force == 1
    with NodeProcess(data) as node:
        r = httpx.post(
            f"{node.base}/api/login", json={"username": "admin", "password": ADMIN_SHA}, timeout=10
        )
        assert r.status_code == 200
        node.stop()


def test_version() -> None:
    result = hy2scale("version")
    assert result.returncode == 0
    assert result.stdout.startswith("hy2scale ")
    result = hy2scale("--version")
    assert result.returncode == 0 and result.stdout.startswith("hy2scale ")


def test_original_style_invocation_means_run(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "hy2scale.db").write_text("not a database")
    result = hy2scale("--data", str(data), "--api", f"127.0.0.1:{free_port()}")
    assert result.returncode == 4 and "not a SQLite database" in result.stderr


def test_api_port_in_use(tmp_path: Path) -> None:
    port = free_port()
    with socket.create_server(("127.0.0.1", port)):
        result = hy2scale("run", "--data", str(tmp_path / "d"), "--api", f"127.0.0.1:{port}")
    assert result.returncode == 5
    assert f"127.0.0.1:{port}/tcp is already in use" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("hy2scale: error:")


def test_corrupt_db_is_refused_and_unchanged(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    db = data / "hy2scale.db"
    junk = b"SQLite format 3\x00" + bytes(range(256)) * 8
    db.write_bytes(junk)
    result = hy2scale("run", "--data", str(data), "--api", f"127.0.0.1:{free_port()}")
    assert result.returncode == 4
    assert "corrupt" in result.stderr
    assert db.read_bytes() == junk
    assert sorted(p.name for p in data.iterdir()) == ["hy2scale.db"]


@contextlib.contextmanager
def _unwritable(path: Path) -> Iterator[None]:
    """Make a directory unwritable even for root (immutable flag), else by mode bits."""
    if os.geteuid() != 0:
        path.chmod(0o500)
        try:
            yield
        finally:
            path.chmod(0o700)
        return
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("running as root and cannot set the immutable flag: no way to make a dir unwritable")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", str(path)], check=True)


def test_data_dir_problems(tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("x")
    result = hy2scale("run", "--data", str(a_file))
    assert result.returncode == 3 and "not a directory" in result.stderr
    result = hy2scale("reset-admin", "--data", str(tmp_path / "missing"))
    assert result.returncode == 3 and "does not exist" in result.stderr
    locked = tmp_path / "locked"
    locked.mkdir()
    with _unwritable(locked):
        result = hy2scale("run", "--data", str(locked), "--api", f"127.0.0.1:{free_port()}")
    assert result.returncode == 3 and "not writable" in result.stderr
    assert list(locked.iterdir()) == []


def test_bad_listen_flag(tmp_path: Path) -> None:
    for flag in ("--api", "--hy2-listen"):
        result = hy2scale("run", "--data", str(tmp_path / "d"), flag, "nonsense")
        assert result.returncode == 2
        assert "invalid address" in result.stderr
    assert not (tmp_path / "d").exists()


def test_hy2_udp_port_in_use(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.1", 0))
        port = busy.getsockname()[1]
        result = hy2scale(
            "run",
            "--data",
            str(tmp_path / "d"),
            "--api",
            f"127.0.0.1:{free_port()}",
            "--hy2-listen",
            f"127.0.0.1:{port}",
        )
    assert result.returncode == 5
    assert f"hy2 server port 127.0.0.1:{port}/udp is already in use" in result.stderr
