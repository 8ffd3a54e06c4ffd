from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hy2scale.accounts import Accounts
from tests.unit.test_svc_fixtures import make_node, user


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0  # 2027-01-15

    def __call__(self) -> float:
        return self.now


def accounts_for(tmp_path: Path, *users: dict, clock: Clock | None = None) -> tuple[Accounts, object]:
    node = make_node(tmp_path, list(users))
    return Accounts(node, clock=clock or Clock()), node


def test_username_auth_checks_main_password_and_state(tmp_path: Path) -> None:
    acc, _ = accounts_for(
        tmp_path,
        user("alice", "pw1", proxy_passwords={"ss": "sspw"}),
        user("bob", "pw2", enabled=False),
        user("carol", "pw3", proxy_disabled=["socks5"]),
        user("dave", "pw4", expiry_date="2027-01-15"),
        user("erin", "pw5", traffic_limit=100, traffic_used=100),
    )
    assert acc.authenticate("alice", "pw1", "socks5", "1.2.3.4").reason == "ok"
    assert acc.authenticate("alice", "sspw", "socks5", "1.2.3.4").reason == "bad_credentials"
    assert acc.authenticate("nobody", "pw1", "socks5", "1.2.3.4").reason == "bad_credentials"
    assert acc.authenticate("bob", "pw2", "http", "1.2.3.4").reason == "disabled"
    assert acc.authenticate("carol", "pw3", "socks5", "1.2.3.4").reason == "proxy_disabled"
    assert acc.authenticate("carol", "pw3", "http", "1.2.3.4").reason == "ok"
    assert acc.authenticate("dave", "pw4", "http", "1.2.3.4").reason == "expired"
    assert acc.authenticate("erin", "pw5", "http", "1.2.3.4").reason == "over_limit"


def test_password_only_auth_uses_overrides_and_reports_conflicts(tmp_path: Path) -> None:
    acc, _ = accounts_for(
        tmp_path,
        user("alice", "same", proxy_passwords={"hy2": "alice-hy2"}),
        user("bob", "same"),
        user("carol", "same"),
        user("dan", "solo", enabled=False),
    )
    assert acc.authenticate(None, "alice-hy2", "hy2", "::1").user.username == "alice"
    assert acc.authenticate(None, "solo", "ss", "::1").user is None
    # bob and carol share "same" on hy2 (alice overrides it there); on ss all three do.
    assert acc.authenticate(None, "same", "hy2", "::1").reason == "bad_credentials"
    assert acc.authenticate(None, "solo", "ss", "::1").reason == "disabled"
    conflicts = acc.conflicts()
    assert sorted(conflicts["bob"]["hy2"]) == ["carol"]
    assert sorted(conflicts["alice"]["ss"]) == ["bob", "carol"]
    assert "hy2" not in conflicts["alice"]
    assert [u.username for u, _ in acc.password_users("hy2")] == ["alice"]


async def test_sessions_aggregate_and_kick_blocks_device_for_60s(tmp_path: Path) -> None:
    clock = Clock()
    acc, _ = accounts_for(tmp_path, user("alice", "pw"), user("bob", "pw2"), clock=clock)
    alice = acc.authenticate("alice", "pw", "socks5", "10.0.0.1").user
    c1 = acc.open_connection(alice, "10.0.0.1", "socks5")
    c2 = acc.open_connection(alice, "10.0.0.1", "socks5")
    other = acc.open_connection(alice, "10.0.0.2", "socks5")
    c1.add_tx(10)
    c2.add_rx(5)
    devices = {d["key"]: d for d in acc.sessions()}
    assert devices["alice|10.0.0.1|socks5"]["conn_count"] == 2
    assert devices["alice|10.0.0.1|socks5"]["tx_bytes"] == 10
    assert devices["alice|10.0.0.1|socks5"]["rx_bytes"] == 5
    cut: list[int] = []
    c1.add_close_callback(lambda: cut.append(1))
    assert acc.kick("alice|10.0.0.1|socks5")
    assert c1.closed.is_set() and c2.closed.is_set() and cut == [1]
    assert not other.closed.is_set()
    assert acc.authenticate("alice", "pw", "socks5", "10.0.0.1").reason == "kicked"
    assert acc.authenticate("alice", "pw", "socks5", "10.0.0.2").reason == "ok"
    assert acc.open_connection(alice, "10.0.0.1", "socks5").closed.is_set()
    clock.now += 61
    assert acc.authenticate("alice", "pw", "socks5", "10.0.0.1").reason == "ok"
    assert not acc.kick("nobody|1.1.1.1|http")


async def test_limit_cuts_live_connection_and_flush_persists(tmp_path: Path) -> None:
    acc, node = accounts_for(tmp_path, user("alice", "pw", traffic_limit=1000))
    alice = acc.authenticate("alice", "pw", "http", "10.0.0.1").user
    conn = acc.open_connection(alice, "10.0.0.1", "http")
    conn.add_tx(400)
    conn.add_rx(700)
    await asyncio.sleep(0)
    assert conn.closed.is_set()
    assert acc.authenticate("alice", "pw", "http", "10.0.0.1").reason == "over_limit"
    await acc.flush()
    assert node.store.users.get("id-alice")["traffic_used"] == 1100
    await acc.flush()
    assert node.store.users.get("id-alice")["traffic_used"] == 1100
    # Reset through the store (as the API does) then the bus: the user is let in again.
    node.store.users.reset_traffic("id-alice")
    await node.bus.publish("users")
    assert acc.authenticate("alice", "pw", "http", "10.0.0.1").reason == "ok"


async def test_credential_edit_kicks_and_delete_or_expiry_cuts(tmp_path: Path) -> None:
    clock = Clock()
    acc, node = accounts_for(
        tmp_path, user("alice", "pw"), user("bob", "pw2"), user("carl", "pw3"), clock=clock
    )
    a = acc.open_connection(acc.authenticate("alice", "pw", "socks5", "1.1.1.1").user, "1.1.1.1", "socks5")
    b = acc.open_connection(acc.authenticate("bob", "pw2", "socks5", "1.1.1.1").user, "1.1.1.1", "socks5")
    c = acc.open_connection(acc.authenticate("carl", "pw3", "socks5", "1.1.1.1").user, "1.1.1.1", "socks5")
    node.store.users.update("id-alice", {"password": "new"})
    node.store.users.delete("id-bob")
    await node.bus.publish("users")
    assert a.closed.is_set() and b.closed.is_set() and not c.closed.is_set()
    assert acc.authenticate("alice", "new", "socks5", "1.1.1.1").reason == "kicked"
    node.store.users.update("id-carl", {"expiry_date": "2027-01-16"})
    await node.bus.publish("users")
    assert not c.closed.is_set()
    clock.now += 86400
    acc.enforce()
    assert c.closed.is_set()


@pytest.mark.parametrize(
    ("fields", "proxy_exit", "expected"),
    [
        ({}, "", ("", (), "")),
        ({"exit_via": "us"}, "", ("us", ("us",), "")),
        ({"exit_paths": ["a/b", "c"], "exit_mode": "quality"}, "", ("a/b", ("a/b", "c"), "quality")),
        ({"exit_via": "us"}, "de", ("de", ("de",), "")),
    ],
)
def test_route_for_prefers_proxy_then_user(
    tmp_path: Path, fields: dict, proxy_exit: str, expected: tuple
) -> None:
    acc, _ = accounts_for(tmp_path, user("alice", "pw", **fields))
    route = acc.route_for(acc.users()[0], proxy_exit)
    assert (route.exit_via, route.exit_paths, route.exit_mode) == expected
