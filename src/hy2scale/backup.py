"""Backup and restore of a node's data dir (DESIGN §4.9).

A backup is a .tar.gz with ``manifest.json`` (format, version, sha256 of every file), a consistent
snapshot of ``hy2scale.db`` (SQLite online-backup API, safe while the node writes) and ``tls/``.

Restore never touches the live data until the upload is fully checked: size and member limits,
no absolute paths, no ``..``, no links or devices, manifest checksums, ``PRAGMA integrity_check``,
and the snapshot must open (and migrate) as our store. The DB is then copied into the live file
with the same online-backup API (one write transaction, so other connections see old or new,
never a mix) and ``tls/`` is swapped by rename. An original hy2scale backup (tar of config.yaml
+ tls/, api.md §5) is converted through ``config_io`` into a fresh store first and then swapped
the same way.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import shutil
import sqlite3
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hy2scale.certs import CERT_ID_RE
from hy2scale.store import StoreError

log = logging.getLogger("hy2scale.backup")

FORMAT = "hy2scale-py-backup"
FORMAT_VERSION = 1
DB_NAME = "hy2scale.db"
MANIFEST = "manifest.json"
TLS_DIR = "tls"
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
MAX_UNPACKED_BYTES = 256 * 1024 * 1024
MAX_MEMBERS = 4096
# Cert store file names: <id>.crt/.key/.name/.ca with ids the cert store accepts.
TLS_FILE = re.compile(rf"^(?:{CERT_ID_RE.pattern.strip('^$')})\.(crt|key|name|ca)$")


class RestoreError(Exception):
    """The upload is not a restorable backup; nothing was changed."""


@dataclass
class Archive:
    kind: str  # "native" or "original"
    files: dict[str, bytes] = field(default_factory=dict)  # normalised member name → content
    skipped: list[str] = field(default_factory=list)  # members of an original backup we do not use

    @property
    def tls_files(self) -> dict[str, bytes]:
        prefix = TLS_DIR + "/"
        return {name[len(prefix) :]: data for name, data in self.files.items() if name.startswith(prefix)}


# Given a fresh store and the original config.yaml text, fill the store (all-or-nothing).
OriginalImporter = Callable[[Any, str, Path], None]
StoreOpener = Callable[[Path], Any]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def snapshot_db(db_path: Path, dest: Path) -> None:
    """Copy a live SQLite DB consistently (the WAL is folded in; writers are not blocked for long)."""
    src = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
    try:
        dst = sqlite3.connect(dest)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()


def create_backup(data_dir: Path, *, version: str) -> bytes:
    """The backup archive of ``data_dir`` as .tar.gz bytes."""
    files: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory(prefix=".backup-", dir=data_dir) as tmp:
        snap = Path(tmp) / DB_NAME
        snapshot_db(data_dir / DB_NAME, snap)
        files[DB_NAME] = snap.read_bytes()
    tls = data_dir / TLS_DIR
    if tls.is_dir():
        for path in sorted(tls.iterdir()):
            if path.is_file() and not path.is_symlink() and TLS_FILE.match(path.name):
                files[f"{TLS_DIR}/{path.name}"] = path.read_bytes()
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "version": version,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "files": {name: _sha256(data) for name, data in files.items()},
    }
    out = io.BytesIO()
    now = int(time.time())
    with tarfile.open(fileobj=out, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        entries = [(MANIFEST, json.dumps(manifest, indent=2).encode()), *files.items()]
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = now
            info.mode = 0o600
            tar.addfile(info, io.BytesIO(data))
    log.info("event=backup_created files=%d bytes=%d", len(files), out.tell())
    return out.getvalue()


def _normalise(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    name = name.rstrip("/")
    if not name or name.startswith("/") or "\\" in name or "\x00" in name:
        raise RestoreError(f"unsafe member name {name!r}")
    if ".." in name.split("/"):
        raise RestoreError(f"unsafe member name {name!r}")
    return name


def read_archive(data: bytes) -> Archive:
    """Parse and check an upload (gzip or plain tar) without touching the disk."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise RestoreError(f"upload larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MiB")
    if not data:
        raise RestoreError("empty upload")
    files: dict[str, bytes] = {}
    total = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
            for count, member in enumerate(tar):
                if count >= MAX_MEMBERS:
                    raise RestoreError("too many members in the archive")
                name = _normalise(member.name)
                if member.isdir():
                    continue
                if not member.isreg():
                    raise RestoreError(f"{name}: links and special files are not allowed")
                total += member.size
                if total > MAX_UNPACKED_BYTES:
                    raise RestoreError("archive unpacks to more than the allowed size")
                handle = tar.extractfile(member)
                if handle is None:
                    raise RestoreError(f"{name}: unreadable member")
                files[name] = handle.read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise RestoreError(f"invalid tar: {exc}") from exc
    if MANIFEST in files:
        for name in files:
            if name.startswith(TLS_DIR + "/") and not TLS_FILE.match(name[len(TLS_DIR) + 1 :]):
                raise RestoreError(f"{name}: unexpected file in tls/")
        _check_manifest(files)
        return Archive("native", files)
    if "config.yaml" in files:
        # The original archived its whole data dir (node-id, *.tmp, operator files): keep what we use, list the rest.
        used = {
            name
            for name in files
            if name == "config.yaml"
            or (name.startswith(TLS_DIR + "/") and TLS_FILE.match(name[len(TLS_DIR) + 1 :]))
        }
        return Archive("original", {n: files[n] for n in used}, sorted(set(files) - used))
    raise RestoreError("not a hy2scale backup (no manifest.json or config.yaml)")


def _check_manifest(files: dict[str, bytes]) -> None:
    try:
        manifest = json.loads(files[MANIFEST])
    except (ValueError, UnicodeDecodeError) as exc:
        raise RestoreError("manifest.json is not valid JSON") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise RestoreError("manifest.json is not a hy2scale backup manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise RestoreError(f"unsupported backup format_version {manifest.get('format_version')!r}")
    listed = manifest.get("files")
    if not isinstance(listed, dict) or DB_NAME not in listed:
        raise RestoreError("manifest.json does not list the database")
    present = set(files) - {MANIFEST}
    if set(listed) != present:
        raise RestoreError("archive contents do not match manifest.json")
    for name, digest in listed.items():
        if _sha256(files[name]) != digest:
            raise RestoreError(f"{name}: checksum mismatch")


def _integrity_check(db_path: Path) -> None:
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            rows = conn.execute("PRAGMA integrity_check").fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise RestoreError(f"database is not readable: {exc}") from exc
    if rows != [("ok",)]:
        raise RestoreError("database failed its integrity check")


def _copy_db_into(src_path: Path, dst_path: Path) -> None:
    src = sqlite3.connect(src_path, timeout=30)
    try:
        dst = sqlite3.connect(dst_path, timeout=30)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()


def _open_staged(staging: Path, open_store: StoreOpener) -> Any:
    """Opening through the store migrates an older snapshot and rejects a foreign DB."""
    try:
        return open_store(staging)
    except StoreError as exc:
        raise RestoreError(f"database is not a hy2scale store: {exc}") from exc


def _relocate_cert_paths(store: Any, staged_tls: Path, live_tls: Path) -> None:
    """The hy2 server stores cert *paths*; ones that name a restored cert must point at this data dir."""
    server = store.sections.get("server")
    changed = False
    for key in ("tls_cert", "tls_key"):
        value = str(server.get(key) or "")
        if value and Path(value).parent.name == TLS_DIR and (staged_tls / Path(value).name).is_file():
            server[key] = str(live_tls / Path(value).name)
            changed = True
    if changed:
        store.sections.put("server", server)


def stage(
    archive: Archive,
    staging: Path,
    live_dir: Path,
    *,
    open_store: StoreOpener,
    import_original: OriginalImporter,
) -> None:
    """Write the archive's DB and tls/ into ``staging`` and prove they load."""
    tls = staging / TLS_DIR
    tls.mkdir(parents=True)
    for name, data in archive.tls_files.items():
        path = tls / name
        path.write_bytes(data)
        path.chmod(0o600 if name.endswith(".key") else 0o644)
    if archive.kind == "native":
        db = staging / DB_NAME
        db.write_bytes(archive.files[DB_NAME])
        _integrity_check(db)
        store = _open_staged(staging, open_store)
    else:
        try:
            text = archive.files["config.yaml"].decode()
        except UnicodeDecodeError as exc:
            raise RestoreError("config.yaml is not UTF-8 text") from exc
        store = _open_staged(staging, open_store)
    try:
        if archive.kind == "original":
            import_original(store, text, staging)
        _relocate_cert_paths(store, tls, live_dir / TLS_DIR)
    finally:
        store.close()
    _integrity_check(staging / DB_NAME)


def swap_in(staging: Path, data_dir: Path) -> None:
    """Make the staged DB and tls/ live; on failure the previous state is put back."""
    live_db = data_dir / DB_NAME
    before = staging / "before.db"
    snapshot_db(live_db, before)
    _copy_db_into(staging / DB_NAME, live_db)
    live_tls = data_dir / TLS_DIR
    old_tls = staging / "tls.before"
    try:
        if live_tls.exists():
            os.replace(live_tls, old_tls)
        os.replace(staging / TLS_DIR, live_tls)
    except OSError:
        if old_tls.exists() and not live_tls.exists():
            os.replace(old_tls, live_tls)
        _copy_db_into(before, live_db)
        raise


def restore(
    data: bytes, data_dir: Path, *, open_store: StoreOpener, import_original: OriginalImporter
) -> Archive:
    """Check ``data`` fully, then replace the node's DB and tls/ with it. Raises RestoreError."""
    archive = read_archive(data)
    staging = Path(tempfile.mkdtemp(prefix=".restore-", dir=data_dir))
    try:
        stage(archive, staging, data_dir, open_store=open_store, import_original=import_original)
        swap_in(staging, data_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("event=restore_applied kind=%s files=%d", archive.kind, len(archive.files))
    return archive
