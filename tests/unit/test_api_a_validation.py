"""Shared API checks: address specs, exit paths and the exit-mode rules, self-prefix stripping."""

from __future__ import annotations

import pytest

from hy2scale.api.errors import ApiError
from hy2scale.api.validation import strip_self, sync_exit, valid_addr_spec, valid_path


@pytest.mark.parametrize(
    "addr",
    ["jp.example.com:5565", "1.2.3.4:443", "[2001:db8::1]:443", "h:443,5000-6000", "h: 443 , 500-600"],
)
def test_valid_addr_specs(addr):
    assert valid_addr_spec(addr)


@pytest.mark.parametrize(
    "addr", ["", "host", "host:", "host:0", "host:65536", "host:9-x", ":443", "[::1]443"]
)
def test_invalid_addr_specs(addr):
    assert not valid_addr_spec(addr)


def test_listen_may_omit_the_host():
    assert valid_addr_spec(":5565", allow_empty_host=True)
    assert valid_addr_spec("0.0.0.0:5565", allow_empty_host=True)


def test_paths():
    assert valid_path("us")
    assert valid_path("us/us-east/a.b")
    assert not valid_path("")
    assert not valid_path("us//x")
    assert not valid_path("us/_relay_x")


def test_sync_exit_fills_both_forms():
    assert sync_exit({"exit_via": "us"}) == {"exit_via": "us", "exit_paths": ["us"], "exit_mode": ""}
    data = sync_exit({"exit_via": "old", "exit_paths": ["jp", "kr"], "exit_mode": "quality"})
    assert (data["exit_via"], data["exit_mode"]) == ("jp", "quality")


def test_sync_exit_mode_rules():
    assert sync_exit({"exit_mode": "quality"})["exit_mode"] == ""  # no paths → no mode
    assert sync_exit({"exit_via": "us", "exit_mode": "direct"})["exit_mode"] == ""
    ok = sync_exit({"exit_paths": ["a/x", "b/x"], "exit_mode": "aggregate"})
    assert ok["exit_mode"] == "aggregate"
    with pytest.raises(ApiError) as err:
        sync_exit({"exit_paths": ["a/x", "b/y"], "exit_mode": "aggregate"})
    assert err.value.status == 400
    assert "'a/x' and 'b/y'" in err.value.message
    with pytest.raises(ApiError):
        sync_exit({"exit_via": "us", "exit_mode": "fastest"})
    with pytest.raises(ApiError):
        sync_exit({"exit_via": "us/bad_name"})


def test_strip_self():
    names = {"name": "sg", "node_id": "ab12cd34"}
    assert strip_self("sg/us/x", names) == "us/x"
    assert strip_self("ab12cd34/us", names) == "us"
    assert strip_self("sg", names) == "sg"
    assert strip_self("us/sg", names) == "us/sg"
