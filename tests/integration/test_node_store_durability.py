"""``kill -9`` during a burst of writes loses no committed change.

A child process writes as fast as it can and prints each id right after its commit returns; we kill it
mid-burst, reopen the store and require every printed id (and the matching counters) to be there.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from hy2scale.store import Store

WRITER = textwrap.dedent(
    """
    import sys
    from hy2scale.store import Store

    store = Store.open(sys.argv[1])
    for i in range(100_000):
        with store.transaction():
            store.rules.create({"id": f"r{i}", "targets": ["10.0.0.0/8"], "enabled": True})
            store.sections.put("graph_layout", {"counter": {"x": i, "y": 0}})
        store.users.add_traffic({"u": (1, 0)})
        print(i, flush=True)
    """
)
KILL_AFTER = 300
TIME_LIMIT_S = 60.0


def test_kill_9_loses_no_committed_write(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    store.users.create({"id": "u", "username": "u", "password": "p"})
    store.close()
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True, bufsize=1
    )
    printed: list[int] = []
    deadline = time.monotonic() + TIME_LIMIT_S
    try:
        assert child.stdout is not None
        while len(printed) < KILL_AFTER and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            printed.append(int(line))
        child.send_signal(signal.SIGKILL)
        rest, _ = child.communicate(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)
    printed += [int(line) for line in rest.split()]
    assert len(printed) >= KILL_AFTER, "the writer did not get going"
    assert child.returncode == -signal.SIGKILL

    store = Store.open(tmp_path)
    try:
        stored = {r["id"] for r in store.rules.list()}
        assert {f"r{i}" for i in printed} <= stored
        last = printed[-1]
        # Each transaction is all-or-nothing: the counter is the last rule's index (or the one after it).
        counter = store.sections.get("graph_layout")["counter"]["x"]
        assert counter in (last, last + 1) and f"r{counter}" in stored
        assert len(stored) == counter + 1
        # Traffic is its own commit after each transaction; at most one was in flight when killed.
        assert store.users.get("u")["traffic_used"] in (counter, counter + 1)
    finally:
        store.close()
