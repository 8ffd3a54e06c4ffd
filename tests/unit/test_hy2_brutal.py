"""Brutal congestion control: window formula, ack-rate compensation, pacing, switching."""

from __future__ import annotations

from aioquic.quic.packet_builder import QuicSentPacket

from hy2scale.hysteria.brutal import Brutal, BrutalPacer, SwitchableCC


def _packet(size: int = 1200) -> QuicSentPacket:
    return QuicSentPacket(
        epoch=3,
        in_flight=True,
        is_ack_eliciting=True,
        is_crypto_packet=False,
        packet_number=1,
        packet_type=0,
        sent_bytes=size,
    )


def test_window_before_and_after_rtt() -> None:
    b = Brutal(max_datagram_size=1200, bps=1_000_000)
    assert b.congestion_window == 10240
    b.on_rtt_measurement(now=100.0, rtt=0.05)
    assert b.congestion_window == 100_000  # bps * rtt * 2 / 1.0


def test_ack_rate_needs_fifty_samples_and_is_floored() -> None:
    b = Brutal(max_datagram_size=1200, bps=1_000_000)
    for _ in range(30):
        b.on_packet_sent(packet=_packet())
        b.on_packet_acked(now=10.2, packet=_packet())
    b.on_packets_lost(now=10.3, packets=[_packet()] * 10)
    assert b.ack_rate(10.5) == 1.0  # 40 samples only
    b.on_packets_lost(now=10.4, packets=[_packet()] * 20)
    assert b.ack_rate(10.5) == 0.8  # 30 / 60 = 0.5, floored at 0.8
    b.on_rtt_measurement(now=10.5, rtt=0.1)
    assert b.congestion_window == 250_000  # 1e6 * 0.1 * 2 / 0.8
    # Samples older than five seconds no longer count.
    assert b.ack_rate(16.0) == 1.0


def test_ack_rate_between_bounds() -> None:
    b = Brutal(max_datagram_size=1200, bps=1_000_000)
    for _ in range(90):
        b.on_packet_acked(now=5.0, packet=_packet())
    b.on_packets_lost(now=5.0, packets=[_packet()] * 10)
    assert abs(b.ack_rate(5.5) - 0.9) < 1e-9


def test_pacer_uses_target_rate() -> None:
    b = Brutal(max_datagram_size=1200, bps=1_200_000)
    pacer = BrutalPacer(max_datagram_size=1200, brutal=b, clock=lambda: 1.0)
    pacer.update_rate(10**9, 0.01)  # the cwnd aioquic passes in is ignored
    assert abs(pacer.packet_time - 0.001) < 1e-12


def test_switchable_keeps_bytes_in_flight() -> None:
    cc = SwitchableCC(max_datagram_size=1200, base="cubic")
    cc.on_packet_sent(packet=_packet(1000))
    assert cc.bytes_in_flight == 1000
    brutal = cc.use_brutal(5_000_000)
    assert cc.inner is brutal and cc.bytes_in_flight == 1000
    cc.on_packet_acked(now=1.0, packet=_packet(1000))
    assert cc.bytes_in_flight == 0
