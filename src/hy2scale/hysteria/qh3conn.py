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

import asyncio
import logging
import ssl
from typing import Any

from qh3.h3.connection import H3Connection, Setting
from qh3.quic import events
from qh3.quic.configuration import QuicConfiguration
from qh3.quic.connection import QuicConnection, QuicConnectionState

from .quic import Addr, Endpoint, QuicConn

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
        max_datagram_size=1452,
    )
    if insecure:
        qc.verify_mode = ssl.CERT_NONE
    if ca:
        if "-----BEGIN" in ca:
            qc.load_verify_locations(cadata=ca.encode())
        else:
            qc.load_verify_locations(cafile=ca)
    return qc


class Qh3QuicConnection(QuicConnection):
    """qh3's connection without the per-packet cost of logging when there is no logger."""

    def _log_packets(self, event: str, data: bytes) -> None:
        # The facade parses every sent packet's header before checking for a logger.
        if self._quic_logger is not None:
            super()._log_packets(event, data)


def new_connection(configuration: QuicConfiguration) -> QuicConnection:
    return Qh3QuicConnection(configuration=configuration)


class Qh3Conn(QuicConn):
    """:class:`QuicConn` over a qh3 ``QuicConnection`` (client side: the peer address is fixed).

    Flow control is the native core's, so the read-credit bookkeeping of the base is not kept.
    """

    TERMINATED: Any = QuicConnectionState.TERMINATED

    def _tune(self) -> None:
        self._newest_stream = 0
        self._slot_waiters: list[asyncio.Future[None]] = []
        self._inbox: list[bytes] = []
        self.on_terminated.append(self._wake_drainers)

    def datagram_received(self, data: bytes, addr: Addr, endpoint: Endpoint) -> None:
        # The native core takes a whole read burst in one call (see flush).
        self._inbox.append(data)
        if not self._flush_due:
            self._flush_due = True
            endpoint.pending.append(self)

    def flush(self) -> None:
        inbox, self._inbox = self._inbox, []
        self.quic.receive_many_datagrams(inbox, self._quic_peer, self.loop.time())
        super().flush()

    def open_stream(self) -> int:
        sid = self.quic.get_next_available_stream_id()
        self._newest_stream = sid
        return sid

    def _slot_free(self) -> bool:
        core = self.quic._core
        # (peer's cumulative bidi limit, uni limit, bidi opened, uni opened)
        limits = core.stream_limits if core is not None else (1, 0, 0, 0)
        return limits[2] < limits[0]

    async def stream_slot(self) -> None:
        # qh3 refuses a stream past the peer's MAX_STREAMS, where aioquic would queue it.
        while not self._slot_free():
            if self.closed.is_set():
                raise ConnectionResetError("connection closed")
            fut = self.loop.create_future()
            self._slot_waiters.append(fut)
            await fut

    def _wake_drainers(self) -> None:
        super()._wake_drainers()
        if self._slot_waiters and (self._slot_free() or self.closed.is_set()):
            waiters, self._slot_waiters = self._slot_waiters, []
            for fut in waiters:
                if not fut.done():
                    fut.set_result(None)

    def stream_alive(self, stream_id: int) -> bool:
        return self._newest_stream - stream_id < STREAM_MEMORY

    def peer_certificate_der(self) -> bytes | None:
        cert = self.quic.get_peercert()
        return None if cert is None else cert.public_bytes()

    def track_stream(self, stream_id: int) -> None:
        return None

    def untrack_stream(self, stream_id: int) -> None:
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
