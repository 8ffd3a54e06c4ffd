"""Backup and restore of a node with 10,000 users through the API (GET /api/backup, POST /api/restore).

Reference, same run: the bare work any consistent backup needs — a SQLite online-backup snapshot of the
DB plus a gzip tar of it and tls/ — without HTTP, manifest, checksums or (for restore) any checks.
Figures are milliseconds (median of the rounds).
"""

from __future__ import annotations

import asyncio
import io
import sqlite3
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import httpx

from hy2scale.api.app import create_app
from hy2scale.bus import ChangeBus
from hy2scale.certs import CertStore
from hy2scale.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import emit, peak_rss_mb

USERS = 10_000
ROUNDS = 5


class _Node:
    def __init__(self, store: Store, data: Path) -> None:
        self.store = store
        self.certs = CertStore(data / "tls")
        self.bus = ChangeBus()
        self.relay = self.settings = self.accounts = None


def _plain_backup(data: Path, scratch: Path) -> bytes:
    snapshot = scratch / "snapshot.db"
    snapshot.unlink(missing_ok=True)
    src, dst = sqlite3.connect(data / "hy2scale.db"), sqlite3.connect(snapshot)
    src.backup(dst)
    src.close()
    dst.close()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        tar.add(snapshot, arcname="hy2scale.db")
        tar.add(data / "tls", arcname="tls")
    return out.getvalue()


def _plain_restore(archive: bytes, data: Path, scratch: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        tar.extract("hy2scale.db", scratch / "restore", filter="data")
    src, dst = sqlite3.connect(scratch / "restore" / "hy2scale.db"), sqlite3.connect(data / "hy2scale.db")
    src.backup(dst)
    src.close()
    dst.close()


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory() as scratch_dir:
        data, scratch = Path(tmp), Path(scratch_dir)
        store = Store.open(data)
        try:
            store.users.replace_all(
                [
                    {"id": f"u{i:05d}", "username": f"user{i}", "password": f"pw-{i}", "enabled": True}
                    for i in range(USERS)
                ]
            )
            node = _Node(store, data)
            node.certs.generate("default", ["bench.test"])
            app = create_app(node)
            _, token = app.state.auth.create_api_token("bench")
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://bench", headers={"Authorization": f"Bearer {token}"}
            ) as client:
                backup_ms, restore_ms, ref_backup_ms, ref_restore_ms = [], [], [], []
                for _ in range(ROUNDS):
                    start = time.perf_counter()
                    archive = (await client.get("/scale/api/backup")).content
                    backup_ms.append((time.perf_counter() - start) * 1000)
                    start = time.perf_counter()
                    response = await client.post(
                        "/scale/api/restore", content=archive, headers={"Content-Type": "application/gzip"}
                    )
                    restore_ms.append((time.perf_counter() - start) * 1000)
                    assert response.status_code == 200, response.text
                    start = time.perf_counter()
                    plain = _plain_backup(data, scratch)
                    ref_backup_ms.append((time.perf_counter() - start) * 1000)
                    start = time.perf_counter()
                    _plain_restore(plain, data, scratch)
                    ref_restore_ms.append((time.perf_counter() - start) * 1000)
            assert store.users.count() == USERS
        finally:
            store.close()

    def median(values: list[float]) -> float:
        return sorted(values)[len(values) // 2]

    emit(
        "api_backup_10k_users",
        "ms",
        median(backup_ms),
        median(ref_backup_ms),
        users=USERS,
        archive_bytes=len(archive),
        peak_rss_mb=peak_rss_mb(),
    )
    emit(
        "api_restore_10k_users",
        "ms",
        median(restore_ms),
        median(ref_restore_ms),
        users=USERS,
        peak_rss_mb=peak_rss_mb(),
    )


if __name__ == "__main__":
    asyncio.run(main())
