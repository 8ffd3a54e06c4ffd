"""Store repositories: sections with defaults, collections, transactions, users' traffic, admin."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from hy2scale.store import SECTION_NAMES, Conflict, NotFound, Store, StoreError, section_default


@pytest.fixture
def store(tmp_path: Path):
    s = Store.open(tmp_path)
    yield s
    s.close()


def test_db_file_is_private_and_in_wal_mode(store: Store, tmp_path: Path) -> None:
    db = tmp_path / "hy2scale.db"
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert db.read_bytes()[18:20] == b"\x02\x02"  # WAL read/write version bytes of the SQLite header


def test_sections_fill_defaults_and_replace(store: Store) -> None:
    for name in SECTION_NAMES:
        assert store.sections.get(name) == section_default(name)
    store.sections.put("l2tp", {"enabled": True, "psk": "s3cret"})
    got = store.sections.get("l2tp")
    assert got["enabled"] is True and got["psk"] == "s3cret"
    assert got["pool"] == "192.168.25.1/24"  # default kept for an unwritten key
    store.sections.put("l2tp", {"mtu": 1300})
    assert store.sections.get("l2tp")["enabled"] is False  # put replaces the whole section
    assert store.sections.stored("l2tp") == {"mtu": 1300}
    store.sections.put("graph_layout", {"a": {"x": 1.5, "y": -2}})
    store.sections.put("graph_layout", {"b": {"x": 0, "y": 0}})
    assert store.sections.get("graph_layout") == {"b": {"x": 0, "y": 0}}


def test_unknown_section_is_an_error(store: Store) -> None:
    with pytest.raises(StoreError):
        store.sections.get("nope")
    with pytest.raises(StoreError):
        store.sections.put("nope", {})


def test_collection_crud_keeps_order_and_shape(store: Store) -> None:
    rule = {"id": "r1", "name": "one", "type": "ip", "targets": ["10.0.0.0/8"], "enabled": True}
    assert store.rules.create(rule) == rule
    store.rules.create({"id": "r0", "targets": []})
    assert [r["id"] for r in store.rules.list()] == ["r1", "r0"]
    assert store.rules.get("r1") == rule
    assert store.rules.get("missing") is None
    updated = store.rules.update("r1", {"enabled": False, "priority": 5})
    assert updated == {**rule, "enabled": False, "priority": 5}
    assert store.rules.get("r1") == updated
    with pytest.raises(Conflict):
        store.rules.create({"id": "r1"})
    with pytest.raises(NotFound):
        store.rules.update("zz", {"enabled": True})
    store.rules.delete("r0")
    with pytest.raises(NotFound):
        store.rules.delete("r0")
    assert store.rules.count() == 1


def test_update_can_rename_the_key(store: Store) -> None:
    store.clients.create({"name": "a", "addr": "1.2.3.4:5565", "password": "x"})
    store.clients.create({"name": "b", "addr": "5.6.7.8:5565", "password": "y"})
    assert store.clients.update("a", {"name": "c"})["name"] == "c"
    assert store.clients.get("a") is None and store.clients.get("c")["addr"] == "1.2.3.4:5565"
    with pytest.raises(Conflict):
        store.clients.update("c", {"name": "b"})
    assert store.clients.find("addr", "5.6.7.8:5565")["name"] == "b"
    with pytest.raises(StoreError, match="not a lookup column"):
        store.clients.find("password", "x")


def test_missing_key_is_refused(store: Store) -> None:
    with pytest.raises(StoreError):
        store.proxies.create({"listen": "0.0.0.0:1080"})


def test_returned_dicts_are_copies(store: Store) -> None:
    user = {"id": "u1", "username": "al", "password": "p", "proxy_disabled": ["hy2"]}
    created = store.users.create(user)
    created["proxy_disabled"].append("ss")
    user["proxy_disabled"].append("http")
    assert store.users.get("u1")["proxy_disabled"] == ["hy2"]


def test_users_unique_username_and_traffic(store: Store) -> None:
    store.users.create({"id": "u1", "username": "alice", "password": "p"})
    store.users.create({"id": "u2", "username": "bob", "password": "q", "traffic_used": 7})
    with pytest.raises(Conflict):
        store.users.create({"id": "u3", "username": "alice", "password": "r"})
    store.users.add_traffic({"u1": (100, 23), "u2": (0, 3), "gone": (5, 5)})
    store.users.add_traffic({"u1": (1, 0)})
    assert store.users.get("u1")["traffic_used"] == 124
    assert store.users.get("u2")["traffic_used"] == 10
    assert store.users.find("username", "bob")["id"] == "u2"
    store.users.reset_traffic("u1")
    assert store.users.get("u1")["traffic_used"] == 0
    with pytest.raises(NotFound):
        store.users.reset_traffic("nobody")


def test_transaction_is_all_or_nothing(store: Store) -> None:
    with store.transaction():
        store.proxies.create({"id": "socks5", "listen": ":1080"})
        store.sections.put("node", {"name": "n1"})
    with pytest.raises(Conflict), store.transaction():
        store.proxies.create({"id": "http", "listen": ":8080"})
        store.sections.put("node", {"name": "n2"})
        store.proxies.create({"id": "socks5", "listen": ":1081"})
    assert [p["id"] for p in store.proxies.list()] == ["socks5"]
    assert store.sections.get("node")["name"] == "n1"


def test_caught_conflict_inside_transaction_keeps_the_rest(store: Store) -> None:
    with store.transaction():
        store.rules.create({"id": "a"})
        with pytest.raises(Conflict):
            store.rules.create({"id": "a"})
        store.rules.create({"id": "b"})
    assert [r["id"] for r in store.rules.list()] == ["a", "b"]


def test_concurrent_writers_from_threads(store: Store) -> None:
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(25):
                store.users.create({"id": f"{n}-{i}", "username": f"user{n}-{i}", "password": "p"})
                store.users.add_traffic({f"{n}-0": (1, 1)})
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert store.users.count() == 100
    assert all(store.users.get(f"{n}-0")["traffic_used"] == 50 for n in range(4))


def test_api_sessions_and_tokens(store: Store) -> None:
    store.api_sessions.create({"token_hash": "h1", "expires_at": 100.0, "username": "admin"})
    store.api_sessions.create({"token_hash": "h2", "expires_at": 300.0, "username": "admin"})
    store.api_sessions.update("h2", {"expires_at": 400.0})
    assert store.api_sessions.delete_expired(200.0) == 1
    assert [s["token_hash"] for s in store.api_sessions.list()] == ["h2"]
    assert store.api_sessions.clear() == 1
    store.api_tokens.create({"id": "t1", "token_hash": "th", "name": "ci"})
    assert store.api_tokens.find("token_hash", "th")["name"] == "ci"
    with pytest.raises(Conflict):
        store.api_tokens.create({"id": "t2", "token_hash": "th"})


def test_admin_single_row(store: Store) -> None:
    assert store.admin.get() is None
    with pytest.raises(NotFound):
        store.admin.update({"force_password_change": False})
    store.admin.put("admin", "hash1", True)
    store.admin.put("root", "hash2", True)
    assert store.admin.update({"force_password_change": False}) == {
        "username": "root",
        "password_hash": "hash2",
        "force_password_change": False,
    }
    assert store.admin.get()["username"] == "root"


def test_values_survive_reopen(tmp_path: Path) -> None:
    s = Store.open(tmp_path)
    s.peer_flags.create({"path": "a/b", "nested": True, "disabled": False})
    s.wg_peers.create({"name": "phone", "public_key": "pk", "allowed_ips": "10.0.0.2/32"})
    s.close()
    s = Store.open(tmp_path)
    try:
        assert s.peer_flags.get("a/b") == {"path": "a/b", "nested": True, "disabled": False}
        assert s.wg_peers.find("public_key", "pk")["allowed_ips"] == "10.0.0.2/32"
    finally:
        s.close()


def test_missing_data_dir(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        Store.open(tmp_path / "nope")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"key: value\n" * 10, "not a SQLite database"),
        (b"SQLite format 3\x00" + b"\xff" * 200, "corrupt"),
    ],
)
def test_bad_db_file_is_refused_and_left_untouched(tmp_path: Path, content: bytes, message: str) -> None:
    db = tmp_path / "hy2scale.db"
    db.write_bytes(content)
    os.chmod(db, 0o644)
    with pytest.raises(StoreError, match=message):
        Store.open(tmp_path)
    assert db.read_bytes() == content
    assert stat.S_IMODE(db.stat().st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hy2scale.db"]


def test_foreign_sqlite_db_is_refused(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "hy2scale.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE other (x)")
    conn.execute("INSERT INTO other VALUES (1)")
    conn.commit()
    conn.close()
    before = db.read_bytes()
    with pytest.raises(StoreError, match="another program"):
        Store.open(tmp_path)
    assert db.read_bytes() == before


def test_truncated_db_is_refused_and_left_untouched(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    with store.transaction():
        for i in range(2000):
            store.users.create({"id": str(i), "username": f"user{i}", "password": "x" * 100})
    store.close()
    db = tmp_path / "hy2scale.db"
    half = db.read_bytes()[: db.stat().st_size // 2]
    db.write_bytes(half)
    with pytest.raises(StoreError, match="corrupt"):
        Store.open(tmp_path)
    assert db.read_bytes() == half
