"""Congestion control: Brutal (fixed-rate, loss-compensated) and a switchable controller.

aioquic picks the controller when the connection is created, but Hysteria decides Brutal vs the
default only after auth, so every connection gets :class:`SwitchableCC` and is told later.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from functools import partial
from typing import Any

from aioquic.quic.congestion.base import (
    QuicCongestionControl,
    create_congestion_control,
    register_congestion_control,
)
from aioquic.quic.packet_builder import QuicSentPacket
from aioquic.quic.recovery import K_MICRO_SECOND, QuicPacketPacer

SLOTS = 5
MIN_SAMPLES = 50
MIN_ACK_RATE = 0.8
INITIAL_WINDOW = 10240
# Event-loop timers fire with a millisecond of granularity (libuv rounds to ms) and often late on
# a busy host; a pacer whose bucket holds less than a few milliseconds never reaches its rate.
MIN_BURST_SECONDS = 0.01
PACING_GAIN = 1.25


class Brutal(QuicCongestionControl):
    """Sends at ``bps`` whatever happens, inflated by up to 1/0.8 to make up for measured loss."""

    def __init__(self, *, max_datagram_size: int, bps: int) -> None:
        super().__init__(max_datagram_size=max_datagram_size)
        self.bps = bps
        self.max_datagram_size = max_datagram_size
        self.congestion_window = INITIAL_WINDOW
        self._slots = [[0, 0, 0] for _ in range(SLOTS)]  # [second, acked, lost]
        self._rtt = 0.0

    def ack_rate(self, now: float) -> float:
        second = math.floor(now)
        acked = lost = 0
        for ts, a, lo in self._slots:
            if second - ts < SLOTS:
                acked += a
                lost += lo
        if acked + lost < MIN_SAMPLES:
            return 1.0
        return max(MIN_ACK_RATE, acked / (acked + lost))

    def pacing_rate(self, now: float) -> float:
        return self.bps / self.ack_rate(now)

    def _slot(self, now: float) -> list[int]:
        second = math.floor(now)
        slot = self._slots[second % SLOTS]
        if slot[0] != second:
            slot[0], slot[1], slot[2] = second, 0, 0
        return slot

    def _update_window(self, now: float) -> None:
        if self._rtt > 0:
            window = int(self.bps * self._rtt * 2 / self.ack_rate(now))
            self.congestion_window = max(window, self.max_datagram_size)

    def on_packet_acked(self, *, now: float, packet: QuicSentPacket) -> None:
        self.bytes_in_flight -= packet.sent_bytes
        self._slot(now)[1] += 1

    def on_packet_sent(self, *, packet: QuicSentPacket) -> None:
        self.bytes_in_flight += packet.sent_bytes

    def on_packets_expired(self, *, packets: Iterable[QuicSentPacket]) -> None:
        for packet in packets:
            self.bytes_in_flight -= packet.sent_bytes

    def on_packets_lost(self, *, now: float, packets: Iterable[QuicSentPacket]) -> None:
        slot = self._slot(now)
        for packet in packets:
            self.bytes_in_flight -= packet.sent_bytes
            slot[2] += 1
        self._update_window(now)

    def on_persistent_congestion(self) -> None:
        """Brutal never backs off."""

    def on_rtt_measurement(self, *, now: float, rtt: float) -> None:
        self._rtt = rtt
        self._update_window(now)

    def get_log_data(self) -> dict[str, Any]:
        return {"cwnd": self.congestion_window, "bytes_in_flight": self.bytes_in_flight, "bps": self.bps}


class BrutalPacer(QuicPacketPacer):
    """aioquic paces at cwnd/srtt, which would be 2x Brutal's target; pace at bps/ackRate."""

    def __init__(self, *, max_datagram_size: int, brutal: Brutal, clock: Any) -> None:
        super().__init__(max_datagram_size=max_datagram_size)
        self._brutal = brutal
        self._clock = clock
        self.update_rate(brutal.congestion_window, 0.0)

    def update_rate(self, congestion_window: int, smoothed_rtt: float) -> None:
        rate = max(self._brutal.pacing_rate(self._clock()), 1.0)
        self.packet_time = max(K_MICRO_SECOND, min(self._max_datagram_size / rate, 1.0))
        # Token bucket depth: 10 packets, or a few milliseconds' worth at high rates.
        self.bucket_max = max(MIN_BURST_SECONDS * rate, 10 * self._max_datagram_size) / rate
        if self.bucket_time > self.bucket_max:
            self.bucket_time = self.bucket_max


class CoarsePacer(QuicPacketPacer):
    """aioquic's pacer, paced a little faster than cwnd/srtt (as quic-go does) and with a bucket
    deep enough for millisecond timers, so the window, not the pacer, limits the sender."""

    def update_rate(self, congestion_window: int, smoothed_rtt: float) -> None:
        super().update_rate(int(congestion_window * PACING_GAIN), smoothed_rtt)
        self.bucket_max = max(self.bucket_max, MIN_BURST_SECONDS)


class SwitchableCC(QuicCongestionControl):
    """Delegates to the default controller until :meth:`use_brutal` is called."""

    def __init__(self, *, max_datagram_size: int, base: str) -> None:
        self._max_datagram_size = max_datagram_size
        self.inner: QuicCongestionControl = create_congestion_control(
            base, max_datagram_size=max_datagram_size
        )

    def use_brutal(self, bps: int) -> Brutal:
        brutal = Brutal(max_datagram_size=self._max_datagram_size, bps=bps)
        brutal.bytes_in_flight = self.inner.bytes_in_flight
        self.inner = brutal
        return brutal

    @property
    def congestion_window(self) -> int:  # type: ignore[override]
        return self.inner.congestion_window

    @congestion_window.setter
    def congestion_window(self, value: int) -> None:
        self.inner.congestion_window = value

    @property
    def bytes_in_flight(self) -> int:  # type: ignore[override]
        return self.inner.bytes_in_flight

    @bytes_in_flight.setter
    def bytes_in_flight(self, value: int) -> None:
        self.inner.bytes_in_flight = value

    @property
    def ssthresh(self) -> int | None:  # type: ignore[override]
        return self.inner.ssthresh

    @ssthresh.setter
    def ssthresh(self, value: int | None) -> None:
        self.inner.ssthresh = value

    def on_packet_acked(self, *, now: float, packet: QuicSentPacket) -> None:
        self.inner.on_packet_acked(now=now, packet=packet)

    def on_packet_sent(self, *, packet: QuicSentPacket) -> None:
        self.inner.on_packet_sent(packet=packet)

    def on_packets_expired(self, *, packets: Iterable[QuicSentPacket]) -> None:
        self.inner.on_packets_expired(packets=packets)

    def on_packets_lost(self, *, now: float, packets: Iterable[QuicSentPacket]) -> None:
        self.inner.on_packets_lost(now=now, packets=packets)

    def on_persistent_congestion(self) -> None:
        self.inner.on_persistent_congestion()

    def on_rtt_measurement(self, *, now: float, rtt: float) -> None:
        self.inner.on_rtt_measurement(now=now, rtt=rtt)

    def get_log_data(self) -> dict[str, Any]:
        return self.inner.get_log_data()


def switchable_name(base: str) -> str:
    """Register (once) and return the aioquic algorithm name wrapping ``base``."""
    name = f"hy2-{base}"
    register_congestion_control(name, partial(SwitchableCC, base=base))
    return name
