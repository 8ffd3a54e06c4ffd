"""Origin-side path rules (relay spec §6.3 dialExit rules 1 and 2, disabled paths)."""

from __future__ import annotations

import pytest

from hy2scale.relay.paths import PathError, check_path, split_path

SELF = {"self_name": "a", "self_id": "a1b2c3d4"}


def test_self_prefix_strip() -> None:
    assert split_path("a/b/c", "a", "x") == ["b", "c"]
    assert split_path("a1b2c3d4/b", "a", "a1b2c3d4") == ["b"]
    assert split_path("/b//c/", "a", "x") == ["b", "c"]
    assert check_path("a", flags={}, **SELF) == []


def test_direct_peer_always_allowed() -> None:
    assert check_path("b", flags={}, **SELF) == ["b"]


def test_nested_authorisation_per_prefix() -> None:
    with pytest.raises(PathError, match="nested discovery is off for 'b'"):
        check_path("b/c", flags={}, **SELF)
    assert check_path("b/c", flags={"b": {"nested": True}}, **SELF) == ["b", "c"]
    with pytest.raises(PathError, match="'b/c'"):
        check_path("b/c/d", flags={"b": {"nested": True}}, **SELF)
    flags = {"b": {"nested": True}, "b/c": {"nested": True}}
    assert check_path("b/c/d", flags=flags, **SELF) == ["b", "c", "d"]


@pytest.mark.parametrize("path", ["b/c/b", "b/a", "b/a1b2c3d4", "b/b"])
def test_loops_refused(path: str) -> None:
    flags = {"b": {"nested": True}, "b/c": {"nested": True}, "b/a": {"nested": True}}
    with pytest.raises(PathError, match="loops"):
        check_path(path, flags=flags, **SELF)


def test_disabled_paths_and_clients() -> None:
    flags = {"b": {"nested": True}, "b/c": {"disabled": True}}
    with pytest.raises(PathError, match="'b/c' is disabled"):
        check_path("b/c", flags=flags, **SELF)
    with pytest.raises(PathError, match="peer 'b' is disabled"):
        check_path("b", flags={}, disabled_clients={"b"}, **SELF)
    with pytest.raises(PathError, match="disabled"):
        check_path("b/c", flags={"b": {"nested": True}, "c": {"disabled": True}}, **SELF)


def test_nested_limits_clamped_and_env_override() -> None:
    from hy2scale.relay.discovery import Limits, limits_from

    assert limits_from({}, {}) == Limits()
    limits = limits_from({"max_nested_depth": 50, "max_response_nodes": 10, "max_fetch_fan_out": 0}, {})
    assert (limits.depth, limits.nodes, limits.fan_out) == (10, 10, 8)
    assert limits_from({"max_nested_depth": 3}, {"HY2SCALE_MAX_NESTED_DEPTH": "7"}).depth == 7


def test_client_config_from_entry() -> None:
    from pathlib import Path

    from hy2scale.relay.links import client_config, entry_addrs

    entry = {
        "addr": "[::1]:5565,44000-45000",
        "addrs": ["[::1]:5565,44000-45000", "10.0.0.2:443"],
        "password": "pw",
        "ca": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        "max_tx": 1000,
        "max_stream_window": 4096,
    }
    config = client_config(entry, entry_addrs(entry)[0])
    assert (config.server, config.ports, config.password, config.sni) == ("::1", 5565, "pw", "hy2scale")
    assert (config.max_tx, config.max_rx, config.stream_window) == (1000, 125_000_000, 4096)
    assert Path(config.ca).read_text() == entry["ca"]
    assert entry_addrs({"addr": "a:1", "addrs": ["b:2"]}) == ["a:1", "b:2"]
