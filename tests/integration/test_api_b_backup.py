"""Backup → wipe → restore reproduces the node; bad uploads change nothing; an original backup imports."""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
import tarfile
from pathlib import Path

from tests.integration.api_a_support import BASE, admin_token, api_client, login, make_node

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "original_backup"


async def _populate(c) -> None:
    r = await c.post(f"{BASE}/users", json={"username": "alice", "password": "alice-pw-1", "enabled": True})
    assert r.status_code == 200, r.text
    r = await c.post(
        f"{BASE}/clients", json={"name": "jp", "addr": "jp.example.com:5565", "password": "peer-pw-1"}
    )
    assert r.status_code == 200, r.text
    r = await c.post(
        f"{BASE}/rules",
        json={"id": "nf", "name": "Netflix", "type": "domain", "targets": ["netflix.com"], "exit_via": "jp"},
    )
    assert r.status_code == 200, r.text
    r = await c.post(f"{BASE}/tls/generate", json={"id": "web", "domains": ["web.example"]})
    assert r.status_code == 200, r.text
    r = await c.put(f"{BASE}/settings/ui", json={"dns": "9.9.9.9", "session_timeout_h": 48})
    assert r.status_code == 200, r.text
    r = await c.post(f"{BASE}/proxies", json={"id": "s5", "listen": "127.0.0.1:1081", "tls_cert": "web"})
    assert r.status_code == 200, r.text


async def _view(c) -> dict:
    """Everything the restore must bring back, as the API shows it."""
    out = {}
    for path in ("/users", "/clients", "/rules", "/tls", "/proxies", "/settings/ui", "/ss", "/node"):
        r = await c.get(f"{BASE}{path}")
        assert r.status_code == 200, (path, r.text)
        out[path] = r.json()
    for user in out["/users"]:
        user.pop("traffic_used", None)
    out["/tls/web/pem"] = (await c.get(f"{BASE}/tls/web/pem")).text
    return out


def _fingerprint(data_dir: Path) -> tuple:
    conn = sqlite3.connect(data_dir / "hy2scale.db")
    try:
        dump = "\n".join(conn.iterdump())
    finally:
        conn.close()
    tls = sorted((p.name, p.read_bytes()) for p in (data_dir / "tls").iterdir() if p.is_file())
    return hashlib.sha256(dump.encode()).hexdigest(), tls


def _tar(files: dict[str, bytes], *, gz: bool = True, extra: list[tarfile.TarInfo] = ()) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz" if gz else "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in extra:
            tar.addfile(info)
    return out.getvalue()


async def test_backup_wipe_restore_round_trip(client):
    await _populate(client)
    before = await _view(client)
    r = await client.get(f"{BASE}/backup")
    assert r.status_code == 200 and r.headers["content-type"] == "application/gzip"
    assert ".tar.gz" in r.headers["content-disposition"]
    archive = r.content
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("manifest.json"))
    assert {"manifest.json", "hy2scale.db", "tls/web.crt", "tls/web.key"} <= set(names)
    assert manifest["format"] == "hy2scale-py-backup" and "hy2scale.db" in manifest["files"]

    # Wipe what the backup holds.
    user_id = before["/users"][0]["id"]
    assert (await client.delete(f"{BASE}/users/{user_id}")).status_code == 200
    assert (await client.delete(f"{BASE}/clients/jp")).status_code == 200
    assert (await client.delete(f"{BASE}/rules/nf")).status_code == 200
    assert (await client.delete(f"{BASE}/proxies/s5")).status_code == 200
    assert (await client.delete(f"{BASE}/tls/web")).status_code == 200
    await client.put(f"{BASE}/settings/ui", json={"dns": "8.8.4.4", "session_timeout_h": 2})
    assert (await _view_safe(client)) != before

    r = await client.post(f"{BASE}/restore", content=archive, headers={"Content-Type": "application/gzip"})
    assert r.status_code == 200, r.text
    assert r.json()["kind"] == "native"
    published = client.node.published
    assert "restore" in published and {"users", "clients", "rules", "tls", "settings"} <= set(published)
    # The same process keeps serving, with the restored state.
    assert await _view(client) == before


async def _view_safe(c) -> dict:
    return {p: (await c.get(f"{BASE}{p}")).json() for p in ("/users", "/clients", "/rules", "/tls")}


async def test_restore_as_multipart_upload(client):
    await _populate(client)
    archive = (await client.get(f"{BASE}/backup")).content
    await client.delete(f"{BASE}/rules/nf")
    r = await client.post(f"{BASE}/restore", files={"file": ("backup.tar.gz", archive, "application/gzip")})
    assert r.status_code == 200, r.text
    assert [rule["id"] for rule in (await client.get(f"{BASE}/rules")).json()["rules"]] == ["nf"]


async def test_bad_uploads_change_nothing(client, tmp_path):
    await _populate(client)
    good = (await client.get(f"{BASE}/backup")).content
    with tarfile.open(fileobj=io.BytesIO(good)) as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar if m.isreg()}
    manifest = json.loads(files["manifest.json"])
    data_dir = client.node.store.path.parent
    snapshot = _fingerprint(data_dir)

    foreign = tmp_path / "foreign.db"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE stuff (x)")
    conn.commit()
    conn.close()

    def with_db(db: bytes) -> bytes:
        m = {**manifest, "files": {**manifest["files"], "hy2scale.db": hashlib.sha256(db).hexdigest()}}
        return _tar({**files, "manifest.json": json.dumps(m).encode(), "hy2scale.db": db})

    link = tarfile.TarInfo("tls/evil.crt")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc/passwd"
    cases = {
        "garbage": b"\x00garbage" * 100,
        "empty": b"",
        "traversal": _tar({**files, "../escape": b"x"}),
        "absolute": _tar({**files, "/etc/cron.d/x": b"x"}),
        "symlink": _tar(files, extra=[link]),
        "checksum": _tar({**files, "hy2scale.db": files["hy2scale.db"][:-1] + b"\x01"}),
        "not_sqlite": with_db(b"SQLite format 3\x00" + b"\x00" * 200),
        "foreign_db": with_db(foreign.read_bytes()),
        "no_manifest": _tar({"hello.txt": b"hi"}),
        "bad_yaml": _tar({"config.yaml": b"node_id: [unclosed"}, gz=False),
    }
    for name, body in cases.items():
        r = await client.post(f"{BASE}/restore", content=body, headers={"Content-Type": "application/gzip"})
        assert r.status_code == 400, (name, r.status_code, r.text)
        assert r.json()["error"], name
        assert _fingerprint(data_dir) == snapshot, name

    oversized = b"\x1f\x8b" + b"\x00" * (51 * 1024 * 1024)
    r = await client.post(f"{BASE}/restore", content=oversized, headers={"Content-Type": "application/gzip"})
    assert r.status_code == 413
    assert _fingerprint(data_dir) == snapshot
    assert "restore" not in client.node.published


async def test_original_hy2scale_backup_imports(client):
    out = io.BytesIO()
    # Like the original's Go archive/tar walk: plain tar, relative names, directory entries included.
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(FIXTURE.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(FIXTURE)), recursive=False)
    r = await client.post(
        f"{BASE}/restore", content=out.getvalue(), headers={"Content-Type": "application/x-tar"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["kind"] == "original" and r.json()["skipped"] == ["node-id"]

    # The restored admin is the original's (web_password = sha256("password1")).
    token = await login(client, "password1")
    client.headers["Authorization"] = f"Bearer {token}"
    node = (await client.get(f"{BASE}/node")).json()
    assert node["node_id"] == "5eed0001" and node["name"] == "tokyo-edge"
    # /data/tls/default.crt of the Docker original now names this node's restored cert.
    live_tls = client.node.store.path.parent / "tls"
    assert node["server"]["tls_cert"] == str(live_tls / "default.crt")
    assert node["server"]["tls_key"] == str(live_tls / "default.key")
    users = (await client.get(f"{BASE}/users")).json()
    assert [(u["username"], u["exit_via"]) for u in users] == [("kenji", "osaka")]
    assert [c["name"] for c in (await client.get(f"{BASE}/clients")).json()] == ["osaka"]
    certs = {c["id"]: c for c in (await client.get(f"{BASE}/tls")).json()}
    assert {"default", "myca", "leaf"} <= set(certs)
    assert certs["leaf"]["ca_parent_id"] == "myca" and certs["myca"]["is_ca"] is True
    assert (await client.get(f"{BASE}/settings/ui")).json()["dns"] == "9.9.9.9,1.1.1.1"


async def test_restore_on_another_node_moves_server_cert_paths(client, tmp_path):
    store = client.node.store
    await client.post(f"{BASE}/tls/generate", json={"id": "default", "domains": ["a.example"]})
    tls = store.path.parent / "tls"
    store.sections.put(
        "server",
        {
            **store.sections.get("server"),
            "tls_cert": str(tls / "default.crt"),
            "tls_key": str(tls / "default.key"),
        },
    )
    archive = (await client.get(f"{BASE}/backup")).content

    (tmp_path / "other").mkdir()
    other = make_node(tmp_path / "other")
    async with api_client(other) as c2:
        await admin_token(c2)
        r = await c2.post(f"{BASE}/restore", content=archive, headers={"Content-Type": "application/gzip"})
        assert r.status_code == 200, r.text
        server = other.store.sections.get("server")
        assert server["tls_cert"] == str(tmp_path / "other" / "tls" / "default.crt")
        assert (tmp_path / "other" / "tls" / "default.key").is_file()
    other.store.close()
