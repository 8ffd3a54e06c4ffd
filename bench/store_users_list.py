"""Store: list 10,000 users (the data behind GET /api/users) vs plain sqlite3 + json on the same file.

Prints one JSON line (bench/_common.emit): p50 ms ours vs reference, ratio ours/reference (1.0 = no overhead).
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from hy2scale.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import emit, peak_rss_mb

USERS = 10_000
ROUNDS = 30


def _reference(path: Path) -> list[dict]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT data, id, username, traffic_used FROM users ORDER BY seq").fetchall()
    finally:
        conn.close()
    out = []
    for data, uid, username, used in rows:
        entity = json.loads(data)
        entity.update(id=uid, username=username, traffic_used=used)
        out.append(entity)
    return out


def _timed(fn: Callable[[], object]) -> list[float]:
    samples = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def _p99(samples: list[float]) -> float:
    return sorted(samples)[max(0, int(len(samples) * 0.99) - 1)]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(tmp)
        store.users.replace_all(
            [
                {
                    "id": f"{i:08x}",
                    "username": f"user{i}",
                    "password": f"pw{i}",
                    "proxy_passwords": {},
                    "proxy_disabled": [],
                    "exit_via": "us/us-east",
                    "exit_paths": ["us/us-east"],
                    "exit_mode": "",
                    "traffic_limit": 0,
                    "expiry_date": "",
                    "enabled": True,
                }
                for i in range(USERS)
            ]
        )
        ours, ref = [], []
        for _ in range(2):  # interleave so load on the machine hits both alike
            ours += _timed(store.users.list)
            ref += _timed(lambda: _reference(store.path))
        store.close()
    emit(
        "store_users_list",
        "ms_p50",
        statistics.median(ours),
        statistics.median(ref),
        users=USERS,
        ours_p99_ms=round(_p99(ours), 2),
        reference_p99_ms=round(_p99(ref), 2),
        reference_is="sqlite3 + json.loads on the same file",
        peak_rss_mb=round(peak_rss_mb(), 1),
    )


if __name__ == "__main__":
    main()
