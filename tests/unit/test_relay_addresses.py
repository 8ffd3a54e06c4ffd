"""Magic addresses, via parsing and bridge tags (relay spec §1.4, §6.1, §7)."""

from __future__ import annotations

import pytest

from hy2scale.relay import addresses as A


def test_magic_classification() -> None:
    for addr in (A.REGISTER, A.CTRL, A.LIST_PEERS, A.PING, A.LATENCY, A.API):
        assert A.is_relay_address(addr)
    assert A.is_relay_address("_relay_via_b_1.2.3.4:80:0")
    assert A.is_relay_address("_relay_data_12:0")
    assert A.is_relay_address("_relay_iptun_a")
    assert A.is_relay_address("_relay_rebind_sb_1_2:0")
    assert not A.is_relay_address("example.com:443")
    assert not A.is_relay_address("_relay_ping_:1")
    assert A.is_local_relay(A.LIST_PEERS)
    assert A.is_local_relay("_relay_via_x_y:1:0")
    assert not A.is_local_relay(A.REGISTER)
    assert not A.is_local_relay(A.CTRL)
    assert not A.is_local_relay("_relay_data_5:0")


def test_build_via_examples_from_spec() -> None:
    assert A.build_via(["us-east"], "1.2.3.4:443") == "_relay_via_us-east_1.2.3.4:443:0"
    assert A.build_via(["kr-r1", "kr-r1-a"], "T:1") == "_relay_via_kr-r1/kr-r1-a_T:1:0"
    with pytest.raises(ValueError):
        A.build_via(["bad_name"], "x:1")
    with pytest.raises(ValueError):
        A.build_via([], "x:1")
    with pytest.raises(ValueError):
        A.build_via(["a"], "h" * 2048 + ":1")


def test_parse_via_keeps_underscores_and_dots_in_target() -> None:
    via = A.parse_via("_relay_via_node.eu-1/c.d_example.com:443:0")
    assert via == A.Via(("node.eu-1", "c.d"), "example.com:443")
    assert A.parse_via("_relay_via_kr_" + A.LIST_PEERS + ":0").target == A.LIST_PEERS
    assert A.parse_via("_relay_via_b__bond_7_1.2.3.4:443:0").target == "_bond_7_1.2.3.4:443"
    tagged = A.parse_via("_relay_via_b_1.2.3.4:80#bridge=sb_ab_3:0")
    assert A.strip_bridge(tagged.target) == ("1.2.3.4:80", "sb_ab_3")


@pytest.mark.parametrize(
    "bad", ["_relay_via_", "_relay_via__x:1:0", "_relay_via_abc", "_relay_via_a_:0", "x"]
)
def test_parse_via_rejects_malformed(bad: str) -> None:
    with pytest.raises(ValueError):
        A.parse_via(bad)


def test_roundtrip_build_parse() -> None:
    addr = A.build_via(["b", "c"], "[::1]:53")
    assert A.parse_via(addr) == A.Via(("b", "c"), "[::1]:53")


def test_strip_bridge() -> None:
    assert A.strip_bridge("1.2.3.4:443") == ("1.2.3.4:443", "")
    assert A.strip_bridge("h:1#bridge=sb_1f_2") == ("h:1", "sb_1f_2")
    assert A.strip_bridge("_relay_list_peers_:0#bridge=x") == ("_relay_list_peers_:0", "x")


def test_data_address() -> None:
    assert A.data_address("42") == "_relay_data_42:0"
    assert A.parse_data_address("_relay_data_42:0") == "42"


def test_host_port() -> None:
    assert A.split_host_port("a.b:80") == ("a.b", 80)
    assert A.split_host_port("[::1]:53") == ("::1", 53)
    assert A.join_host_port("::1", 53) == "[::1]:53"
    for bad in ("nohost", ":80", "h:0", "h:x"):
        with pytest.raises(ValueError):
            A.split_host_port(bad)


def test_unbracket_relay_addresses_only() -> None:
    assert A.unbracket("[_relay_via_b_1.2.3.4:80]:0") == "_relay_via_b_1.2.3.4:80:0"
    assert A.unbracket("[::1]:443") == "[::1]:443"
    assert A.unbracket("_relay_ping_:0") == "_relay_ping_:0"


def test_routable_names() -> None:
    assert A.routable_name("us-east.1")
    assert not A.routable_name("")
    assert not A.routable_name("a/b")
    assert not A.routable_name("a_b")
