"""Register metadata flags and the primary/alt peer slots (relay spec §3.2-3.4)."""

from __future__ import annotations

from hy2scale.relay.meta import our_meta, parse_peer_meta
from hy2scale.relay.peers import Peer, PeerStats, PeerTable


def test_our_meta_announces_wire_level_and_impl() -> None:
    meta = our_meta("a1b2c3d4")
    assert meta["v"] == "1.3.4" and meta["pv"] == 3 and meta["id"] == "a1b2c3d4"
    assert meta["impl"].startswith("hy2scale-py/")
    assert meta["v"] >= "1.3.0"  # Go's string compare must accept us


def test_compat_flags() -> None:
    assert parse_peer_meta({}).incompatible
    assert parse_peer_meta({"v": "1.0.0"}).incompatible
    assert parse_peer_meta({"v": "1.2.9"}).incompatible
    assert not parse_peer_meta({"v": "1.3.0"}).incompatible
    # Compared as numbers, not strings: 1.10 is newer than 1.3.
    assert not parse_peer_meta({"v": "1.10.0"}).incompatible
    assert parse_peer_meta({"v": "1.3.4", "pv": 4}).unsupported
    assert not parse_peer_meta({"v": "1.3.4", "pv": 3}).unsupported
    assert parse_peer_meta({"pv": True}).pv == 0
    assert parse_peer_meta({"v": 5, "id": 7}).version == "1.0.0"


def _peer(name: str, direction: str, node_id: str = "") -> Peer:
    return Peer(name=name, direction=direction, meta=parse_peer_meta({"v": "1.3.4", "pv": 3, "id": node_id}))


def test_reconnect_same_direction_replaces() -> None:
    table = PeerTable()
    first, second = _peer("b", "inbound", "id1"), _peer("b", "inbound", "id1")
    assert table.install(first) == (True, [])
    assert table.install(second) == (True, [first])
    assert table.get("b") is second


def test_impostor_rejected() -> None:
    table = PeerTable()
    real = _peer("b", "inbound", "id1")
    table.install(real)
    assert table.install(_peer("b", "inbound", "id2")) == (False, [])
    assert table.get("b") is real


def test_mutual_dial_outbound_takes_primary_and_alt_promotes() -> None:
    table = PeerTable()
    inbound, outbound = _peer("b", "inbound", "id1"), _peer("b", "outbound", "id1")
    table.install(inbound)
    assert table.install(outbound) == (True, [])
    assert table.get("b") is outbound and table.alt["b"] is inbound
    assert table.remove(outbound)
    assert table.get("b") is inbound and "b" not in table.alt
    assert not table.remove(outbound)


def test_inbound_after_outbound_goes_to_alt() -> None:
    table = PeerTable()
    outbound, inbound = _peer("b", "outbound", "id1"), _peer("b", "inbound", "id1")
    table.install(outbound)
    table.install(inbound)
    assert table.get("b") is outbound and table.alt["b"] is inbound


def test_legacy_without_ids_replaces_primary() -> None:
    table = PeerTable()
    old, new = _peer("b", "outbound"), _peer("b", "inbound")
    table.install(old)
    assert table.install(new) == (True, [old])


def test_latency_keeps_last_good_and_ring() -> None:
    stats = PeerStats()
    stats.set_latency(-1)
    assert stats.latency_ms == -1
    stats.set_latency(20)
    stats.set_latency(-1)
    assert stats.latency_ms == 20
    for i in range(200):
        stats.set_latency(i + 1)
    assert len(stats.history) == 120


def test_rates() -> None:
    stats = PeerStats()
    stats.tx, stats.rx = 1000, 500
    stats.tick_rates(1.0)
    assert (stats.tx_rate, stats.rx_rate) == (1000, 500)
    stats.tick_rates(1.0)
    assert (stats.tx_rate, stats.rx_rate) == (0, 0)
