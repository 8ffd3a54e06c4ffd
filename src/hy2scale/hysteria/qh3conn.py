"""The qh3 client backend behind the QUIC seam (``ClientConfig(backend="qh3")``).

qh3 keeps packet building, recovery and congestion control in native code, so one stream runs
several times faster than on pure-Python aioquic. What it does not offer, and how we cope:

* congestion control is not pluggable, so Brutal is unavailable: a negotiated bandwidth is
  ignored and the native controller stays (logged once per process);
* stream receive windows are extended by the native core as data is delivered, not as the
  application reads it, so a slow reader buffers in memory instead of stopping the peer;
* client only: its server has a native bug with zero-length client connection IDs.
"""

from __future__ import annotations

import logging
import ssl
from typing import Any

from qh3.h3.connection import H3Connection, Setting
from qh3.quic import events
from qh3.quic.configuration import QuicConfiguration
from qh3.quic.connection import QuicConnection, QuicConnectionState

from .quic import QuicConn

log = logging.getLogger("hy2scale.hysteria")

# Streams more than this many IDs older than the newest one are treated as forgotten.
STREAM_MEMORY = 4 * 1024
_brutal_logged = False

# Event classes mapped to the aioquic class names the protocol layer dispatches on.
EVENT_NAMES: dict[type, str] = {
    events.StreamDataReceived: "StreamDataReceived",
    events.DatagramFrameReceived: "DatagramFrameReceived",
    events.StreamReset: "StreamReset",
    events.StopSendingReceived: "StopSendingReceived",
    events.HandshakeCompleted: "HandshakeCompleted",
    events.ConnectionTerminated: "ConnectionTerminated",
}


class Qh3H3Connection(H3Connection):
    """qh3's HTTP/3 layer without the H3_DATAGRAM setting.

    qh3 always advertises it; quic-go then starts its own datagram reader, which races
    Hysteria's and swallows a datagram. aioquic only sends it with WebTransport on.
    """

    def _get_local_settings(self) -> dict[int, int]:
        settings = super()._get_local_settings()
        settings.pop(Setting.H3_DATAGRAM, None)
        return settings


def client_configuration(
    *,
    sni: str,
    idle_timeout: float,
    conn_window: int,
    stream_window: int,
    insecure: bool,
    ca: str,
) -> QuicConfiguration:
    qc = QuicConfiguration(
        is_client=True,
        alpn_protocols=["h3"],
        server_name=sni,
        idle_timeout=idle_timeout,
        max_data=conn_window,
        max_stream_data=stream_window,
        max_datagram_frame_size=65536,
    )
    if insecure:
        qc.verify_mode = ssl.CERT_NONE
    if ca:
        if "-----BEGIN" in ca:
            qc.load_verify_locations(cadata=ca.encode())
        else:
            qc.load_verify_locations(cafile=ca)
    return qc


def new_connection(configuration: QuicConfiguration) -> QuicConnection:
    return QuicConnection(configuration=configuration)


class Qh3Conn(QuicConn):
    """:class:`QuicConn` over a qh3 ``QuicConnection``."""

    TERMINATED: Any = QuicConnectionState.TERMINATED

    def _tune(self) -> None:
        self._tracked: set[int] = set()
        self._newest_stream = 0

    def open_stream(self) -> int:
        sid = self.quic.get_next_available_stream_id()
        self._newest_stream = sid
        return sid

    def stream_alive(self, stream_id: int) -> bool:
        return self._newest_stream - stream_id < STREAM_MEMORY

    def peer_certificate_der(self) -> bytes | None:
        cert = self.quic.get_peercert()
        return None if cert is None else cert.public_bytes()

    def track_stream(self, stream_id: int) -> None:
        self._tracked.add(stream_id)

    def untrack_stream(self, stream_id: int) -> None:
        self._tracked.discard(stream_id)
        fut = self._drain_waiters.pop(stream_id, None)
        if fut is not None and not fut.done():
            fut.set_result(None)

    def received(self, n: int) -> None:
        return None

    def consumed(self, stream_id: int, n: int) -> None:
        return None

    def stop_stream(self, stream_id: int, code: int = 0) -> None:
        try:
            self.quic.stop_stream(stream_id, code)
        except Exception as exc:  # the native core raises its own error types for dead streams
            log.debug("event=stop_stream_ignored stream=%d error=%s", stream_id, exc)
            return
        self.schedule_transmit()

    def reset_stream(self, stream_id: int, code: int = 0) -> None:
        try:
            self.quic.reset_stream(stream_id, code)
        except Exception as exc:
            log.debug("event=reset_stream_ignored stream=%d error=%s", stream_id, exc)
            return
        self.schedule_transmit()

    def send_stream(self, stream_id: int, data: bytes, end: bool = False) -> None:
        if self.closed.is_set():
            raise ConnectionResetError("connection closed")
        try:
            self.quic.send_stream_data(stream_id, data, end_stream=end)
        except Exception as exc:
            raise ConnectionResetError(str(exc)) from exc
        self.schedule_transmit()

    def send_buffered(self, stream_id: int) -> int:
        try:
            return self.quic.get_send_buffer_size(stream_id)
        except Exception:
            return 0

    def use_brutal(self, bps: int) -> None:
        global _brutal_logged
        if not _brutal_logged:
            _brutal_logged = True
            log.warning("event=brutal_unavailable backend=qh3 bps=%d cc=native", bps)

    @property
    def rtt(self) -> float:
        core = self.quic._core
        return (core.smoothed_rtt or 0.0) if core is not None else 0.0

    def stats(self) -> dict[str, Any]:
        core = self.quic._core
        return {
            "rtt": self.rtt,
            "cwnd": core.congestion_window if core is not None else 0,
            "bytes_in_flight": core.bytes_in_flight if core is not None else 0,
            "brutal_bps": 0,
        }
