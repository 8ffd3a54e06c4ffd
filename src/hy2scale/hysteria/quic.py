"""The QUIC seam: everything aioquic-specific the protocol layer needs lives here.

:class:`Endpoint` owns one UDP socket (UDP GSO out, GRO in, Salamander on every packet);
:class:`QuicConn` drives one ``QuicConnection`` on the event loop: it feeds received packets,
transmits once per read burst, runs the timer, and offers the stream/datagram operations the
Hysteria layer uses. Stream receive windows follow what the application has *read*, so a slow
reader stops the peer instead of growing memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sys
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection, QuicConnectionState
from aioquic.quic.events import QuicEvent
from cryptography.hazmat.primitives import serialization

from .brutal import Brutal, BrutalPacer, CoarsePacer, SwitchableCC
from .salamander import Salamander

log = logging.getLogger("hy2scale.hysteria")

Addr = tuple[Any, ...]
SOCKET_BUFFER = 8 * 1024 * 1024
RECV_SIZE = 4096
READ_BATCH = 256
MAX_BACKLOG = 4096
UDP_SEGMENT = 103  # Linux socket options; not exported by the socket module
UDP_GRO = 104
GRO_BUFFER = 65535
GRO_ANCILLARY = socket.CMSG_SPACE(4)
GSO_SEGMENTS = 64
GSO_BYTES = 65000
# drain() blocks while more than this much written data is still unacknowledged.
SEND_HIGH_WATER = 4 * 1024 * 1024
SEND_LOW_WATER = 1 * 1024 * 1024
# Largest UDPMessage per DATAGRAM frame: it must fit one 1200-byte QUIC packet after the short
# header (CID up to 20 bytes), packet number, frame header and AEAD tag; Go peers accept frames of
# at most 1200 bytes. A frame that fits no packet would block aioquic's datagram queue for good.
MAX_DATAGRAM_PAYLOAD = 1150


class Endpoint:
    """One non-blocking UDP socket driven straight from the event loop.

    Reads drain the socket in one callback (no per-datagram transport overhead) and equal-sized
    packets of one transmit go out in one ``sendmsg`` with UDP GSO where the kernel has it.
    Salamander, when configured, wraps every packet. Connections that received packets in a read
    burst are flushed once at its end (see :meth:`QuicConn.flush`).
    """

    def __init__(
        self, sock: socket.socket, receive: Callable[[bytes, Addr, Endpoint], None], obfs: Salamander | None
    ) -> None:
        self.sock = sock
        self._receive = receive
        self._obfs = obfs
        self._loop = asyncio.get_running_loop()
        self._fd = sock.fileno()
        self._backlog: deque[tuple[bytes, Addr]] = deque()
        self.pending: list[QuicConn] = []
        self._gso = hasattr(socket, "SOL_UDP")
        self._gro = False
        if self._gso:
            # GRO hands over a run of same-sized datagrams from one sender in one recvmsg.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_UDP, UDP_GRO, 1)
                self._gro = True
        self.closed = False
        self.local_addr: Addr = sock.getsockname()
        self._loop.add_reader(self._fd, self._read_ready)

    def _read_ready(self) -> None:
        try:
            self._read_burst()
        finally:
            pending = self.pending
            if pending:
                self.pending = []
                for conn in pending:
                    conn.flush()

    def _read_burst(self) -> None:
        if self._gro:
            self._read_gro()
            return
        recv = self.sock.recvfrom
        obfs = self._obfs
        for _ in range(READ_BATCH):
            try:
                data, addr = recv(RECV_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.debug("event=udp_error error=%s", exc)
                return
            if obfs is not None:
                plain = obfs.deobfuscate(data)
                if plain is None:
                    continue
                data = plain
            self._receive(data, addr, self)
            if self.closed:
                return

    def _read_gro(self) -> None:
        recvmsg = self.sock.recvmsg
        obfs = self._obfs
        for _ in range(READ_BATCH):
            try:
                buf, ancillary, _flags, addr = recvmsg(GRO_BUFFER, GRO_ANCILLARY)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.debug("event=udp_error error=%s", exc)
                return
            size = len(buf)
            for level, kind, value in ancillary:
                if level == socket.SOL_UDP and kind == UDP_GRO:
                    size = int.from_bytes(value[:4], sys.byteorder)
            # Every segment is one datagram as sent (only the last may be shorter).
            if 0 < size < len(buf):
                segments = [buf[i : i + size] for i in range(0, len(buf), size)]
            else:
                segments = [buf]
            for data in segments:
                if obfs is not None:
                    plain = obfs.deobfuscate(data)
                    if plain is None:
                        continue
                    data = plain
                self._receive(data, addr, self)
                if self.closed:
                    return

    def send(self, data: bytes, addr: Addr) -> None:
        if self._obfs is not None:
            data = self._obfs.obfuscate(data)
        self._sendto(data, addr)

    def send_batch(self, packets: list[bytes], addr: Addr) -> None:
        """Send packets in order; runs of equal size share one GSO ``sendmsg``."""
        if self._obfs is not None:
            packets = [self._obfs.obfuscate(p) for p in packets]
        if not self._gso or len(packets) == 1 or self._backlog:
            for packet in packets:
                self._sendto(packet, addr)
            return
        i, n = 0, len(packets)
        while i < n:
            size = len(packets[i])
            limit = i + min(GSO_SEGMENTS, GSO_BYTES // size)
            j = i + 1
            while j < n and j < limit and len(packets[j]) == size:
                j += 1
            if j < n and j < limit and len(packets[j]) < size:
                j += 1  # a shorter last segment is allowed
            if j - i == 1:
                self._sendto(packets[i], addr)
            else:
                self._sendmsg(packets[i:j], size, addr)
            i = j

    def _sendmsg(self, packets: list[bytes], size: int, addr: Addr) -> None:
        try:
            self.sock.sendmsg(
                [b"".join(packets)], [(socket.SOL_UDP, UDP_SEGMENT, size.to_bytes(2, "little"))], 0, addr
            )
        except (BlockingIOError, InterruptedError):
            self._queue(packets, addr)
        except OSError as exc:
            # No GSO here (old kernel, some NICs/tunnels): plain sends from now on.
            log.debug("event=gso_disabled error=%s", exc)
            self._gso = False
            for packet in packets:
                self._sendto(packet, addr)

    def _sendto(self, data: bytes, addr: Addr) -> None:
        if self.closed:
            return
        if self._backlog:
            self._queue([data], addr)
            return
        try:
            self.sock.sendto(data, addr)
        except (BlockingIOError, InterruptedError):
            self._queue([data], addr)
        except OSError as exc:
            log.debug("event=udp_send_error addr=%s error=%s", addr, exc)

    def _queue(self, packets: list[bytes], addr: Addr) -> None:
        if not self._backlog:
            self._loop.add_writer(self._fd, self._write_ready)
        for packet in packets:
            if len(self._backlog) >= MAX_BACKLOG:
                return  # UDP may drop; QUIC recovers what mattered
            self._backlog.append((packet, addr))

    def _write_ready(self) -> None:
        while self._backlog:
            data, addr = self._backlog[0]
            try:
                self.sock.sendto(data, addr)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.debug("event=udp_send_error addr=%s error=%s", addr, exc)
            self._backlog.popleft()
        self._loop.remove_writer(self._fd)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._loop.remove_reader(self._fd)
        if self._backlog:
            self._loop.remove_writer(self._fd)
            self._backlog.clear()
        self.sock.close()


async def open_endpoint(
    host: str, port: int, receive: Callable[[bytes, Addr, Endpoint], None], obfs: Salamander | None
) -> Endpoint:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if family == socket.AF_INET6:
            # "::" serves IPv4 clients too.
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        for force, opt in ((33, socket.SO_RCVBUF), (32, socket.SO_SNDBUF)):
            # SO_RCVBUFFORCE/SO_SNDBUFFORCE (33/32) pass net.core.*mem_max when privileged.
            try:
                sock.setsockopt(socket.SOL_SOCKET, force, SOCKET_BUFFER)
            except OSError:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, opt, SOCKET_BUFFER)
        sock.setblocking(False)
        sock.bind((host or "0.0.0.0", port))
    except OSError:
        sock.close()
        raise
    return Endpoint(sock, receive, obfs)


class Hy2QuicConnection(QuicConnection):
    """aioquic connection with Hysteria's stream limit and read-driven flow-control credit."""

    def __init__(
        self,
        *,
        configuration: QuicConfiguration,
        max_incoming_streams: int,
        omit_datagram_tp: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(configuration=configuration, **kwargs)
        self.omit_datagram_tp = omit_datagram_tp
        # aioquic hard-codes 128 incoming bidi streams; official servers allow 1024.
        self._local_max_streams_bidi.value = max_incoming_streams
        self._local_max_streams_bidi.sent = max_incoming_streams
        self.stream_window = configuration.max_stream_data
        self.conn_window = configuration.max_data
        self.tracked: dict[int, int] = {}  # stream id -> bytes the application has read
        self.unread = 0  # received on tracked streams but not read yet

    def _serialize_transport_parameters(self) -> bytes:
        if not self.omit_datagram_tp:
            return super()._serialize_transport_parameters()
        # Official clients >= 2.8.2 leave max_datagram_frame_size out yet still accept DATAGRAMs;
        # aioquic would refuse to receive them with the setting off, so only the TP is hidden.
        configuration = self._configuration
        saved = configuration.max_datagram_frame_size
        configuration.max_datagram_frame_size = None
        try:
            return super()._serialize_transport_parameters()
        finally:
            configuration.max_datagram_frame_size = saved

    def _write_connection_limits(self, builder: Any, space: Any) -> None:
        limit = self._local_max_data
        target = limit.used - self.unread + self.conn_window
        if target - limit.value >= self.conn_window // 4:
            limit.value = target
        used = limit.used
        # Hide `used` from aioquic's own doubling rule; the credit above replaces it.
        limit.used = 0
        try:
            super()._write_connection_limits(builder, space)
        finally:
            limit.used = used

    def _write_stream_limits(self, builder: Any, space: Any, stream: Any) -> None:
        # Called for every stream on every packet built: keep the common path short.
        consumed = self.tracked.get(stream.stream_id)
        if consumed is None:
            super()._write_stream_limits(builder, space, stream)
            return
        local = stream.max_stream_data_local
        if not local:
            return
        target = consumed + self.stream_window
        if target - local >= self.stream_window >> 2:
            stream.max_stream_data_local = target
        elif stream.max_stream_data_local_sent == local:
            return
        # Only the frame writing is aioquic's; its doubling rule is hidden by a zero offset.
        highest = stream.receiver.highest_offset
        stream.receiver.highest_offset = 0
        try:
            super()._write_stream_limits(builder, space, stream)
        finally:
            stream.receiver.highest_offset = highest


class ConnHandler(Protocol):
    def on_event(self, event: QuicEvent) -> None: ...


class QuicConn:
    """Drives one QUIC connection; the protocol layer sees events and simple operations.

    This class drives aioquic; :class:`hy2scale.hysteria.qh3conn.Qh3Conn` overrides the few
    methods that reach into the QUIC stack's internals.
    """

    TERMINATED: Any = QuicConnectionState.TERMINATED

    def __init__(
        self,
        quic: Hy2QuicConnection,
        endpoint: Endpoint,
        peer: Addr,
        *,
        fixed_peer: bool = False,
    ) -> None:
        self.quic = quic
        self.endpoint = endpoint
        # The address packets are sent to. A client keeps aioquic's idea of the peer fixed and
        # changes this one itself when hopping ports.
        self.peer = peer
        self._quic_peer = peer
        self._fixed_peer = fixed_peer
        self.handler: ConnHandler | None = None
        self.loop = asyncio.get_running_loop()
        self._tx_scheduled = False
        self._flush_due = False
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._drain_waiters: dict[int, asyncio.Future[None]] = {}
        self._credit_due = False
        self.closed = asyncio.Event()
        self.brutal: Brutal | None = None
        self.on_terminated: list[Callable[[], None]] = []
        self._tune()

    def _tune(self) -> None:
        quic = self.quic
        quic._loss._pacer = CoarsePacer(max_datagram_size=quic._max_datagram_size)
        # aioquic holds ACKs for 1 ms, which becomes 1-20 ms with event-loop timers and inflates
        # the peer's RTT (and so its pacing). One transmit per read burst already batches ACKs.
        quic._ack_delay = 0.0

    # -- packet I/O -------------------------------------------------------------------------

    def datagram_received(self, data: bytes, addr: Addr, endpoint: Endpoint) -> None:
        if self._fixed_peer:
            addr = self._quic_peer
        else:
            self.endpoint = endpoint
        self.quic.receive_datagram(data, addr, self.loop.time())
        if not self._flush_due:
            self._flush_due = True
            endpoint.pending.append(self)

    def flush(self) -> None:
        """End of a read burst: hand events over, wake writers, send ACKs and data once."""
        self._flush_due = False
        self._process_events()
        self._wake_drainers()
        self.transmit()

    def schedule_transmit(self) -> None:
        if not self._tx_scheduled:
            self._tx_scheduled = True
            self.loop.call_soon(self.transmit)

    def transmit(self) -> None:
        self._tx_scheduled = False
        self._credit_due = False
        datagrams = self.quic.datagrams_to_send(now=self.loop.time())
        if datagrams:
            self._send(datagrams)
        self._arm_timer()
        self._process_events()

    def _send(self, datagrams: list[tuple[bytes, Addr]]) -> None:
        endpoint = self.endpoint
        if self._fixed_peer:
            endpoint.send_batch([data for data, _ in datagrams], self.peer)
            return
        # A server may address a probe to a new path in the same batch: keep runs per address.
        run: list[bytes] = []
        run_addr = datagrams[0][1]
        for data, addr in datagrams:
            if addr != run_addr:
                endpoint.send_batch(run, run_addr)
                run, run_addr = [], addr
            run.append(data)
        endpoint.send_batch(run, run_addr)
        self.peer = run_addr

    def _arm_timer(self) -> None:
        at = self.quic.get_timer()
        if at == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = at
        if at is not None:
            self._timer = self.loop.call_at(at, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        self.quic.handle_timer(now=self.loop.time())
        self._process_events()
        self._wake_drainers()
        self.transmit()

    def _process_events(self) -> None:
        quic = self.quic
        handler = self.handler
        while (event := quic.next_event()) is not None:
            if handler is not None:
                handler.on_event(event)
        if quic._state is self.TERMINATED and not self.closed.is_set():
            self._terminate()

    def _terminate(self) -> None:
        self.closed.set()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for fut in self._drain_waiters.values():
            if not fut.done():
                fut.set_exception(ConnectionResetError("connection closed"))
        self._drain_waiters.clear()
        for callback in self.on_terminated:
            callback()

    def terminated(self) -> None:
        """Called by the protocol layer on ConnectionTerminated."""
        if not self.closed.is_set():
            self._terminate()

    def close(self, error_code: int = 0x100, reason: str = "") -> None:
        if self.closed.is_set():
            return
        self.quic.close(error_code=error_code, reason_phrase=reason)
        self.transmit()

    # -- streams ----------------------------------------------------------------------------

    def open_stream(self) -> int:
        return self.quic.get_next_available_stream_id()

    async def stream_slot(self) -> None:
        """Wait until the peer's stream limit allows one more stream (aioquic queues instead)."""
        return None

    def stream_alive(self, stream_id: int) -> bool:
        """Whether the QUIC stack still keeps state for this stream (late frames may arrive)."""
        return stream_id in self.quic._streams

    def peer_certificate_der(self) -> bytes | None:
        cert = self.quic.tls._peer_certificate
        return None if cert is None else cert.public_bytes(serialization.Encoding.DER)

    def track_stream(self, stream_id: int) -> None:
        """Give this stream read-driven flow control (see :class:`Hy2QuicConnection`)."""
        self.quic.tracked[stream_id] = 0

    def untrack_stream(self, stream_id: int) -> None:
        self.quic.tracked.pop(stream_id, None)
        fut = self._drain_waiters.pop(stream_id, None)
        if fut is not None and not fut.done():
            fut.set_result(None)

    def received(self, n: int) -> None:
        self.quic.unread += n

    def consumed(self, stream_id: int, n: int) -> None:
        quic = self.quic
        quic.unread -= n
        if stream_id in quic.tracked:
            quic.tracked[stream_id] += n
            # Reading a quarter window is worth a MAX_STREAM_DATA; do not wake the sender per read.
            stream = quic._streams.get(stream_id)
            if (
                stream is not None
                and quic.tracked[stream_id] + quic.stream_window - stream.max_stream_data_local
                >= quic.stream_window // 4
            ) and not self._credit_due:
                self._credit_due = True
                self.schedule_transmit()

    def send_stream(self, stream_id: int, data: bytes, end: bool = False) -> None:
        """Raises ``ConnectionResetError`` when the stream or connection can no longer send."""
        if self.closed.is_set():
            raise ConnectionResetError("connection closed")
        try:
            self.quic.send_stream_data(stream_id, data, end_stream=end)
        except (RuntimeError, ValueError, AssertionError) as exc:
            # aioquic raises after the peer's STOP_SENDING/RESET (qh3 uses ValueError).
            raise ConnectionResetError(str(exc)) from exc
        self.schedule_transmit()

    def stop_stream(self, stream_id: int, code: int = 0) -> None:
        with contextlib.suppress(RuntimeError, ValueError, AssertionError, KeyError):
            stream = self.quic._streams.get(stream_id)
            if stream is not None and not stream.receiver.is_finished:
                self.quic.stop_stream(stream_id, code)
                self.schedule_transmit()

    def reset_stream(self, stream_id: int, code: int = 0) -> None:
        with contextlib.suppress(RuntimeError, ValueError, AssertionError, KeyError):
            self.quic.reset_stream(stream_id, code)
            self.schedule_transmit()

    def send_buffered(self, stream_id: int) -> int:
        stream = self.quic._streams.get(stream_id)
        if stream is None:
            return 0
        sender = stream.sender
        return sender._buffer_stop - sender._buffer_start

    async def wait_drained(self, stream_id: int) -> None:
        if self.closed.is_set():
            raise ConnectionResetError("connection closed")
        if self.send_buffered(stream_id) <= SEND_HIGH_WATER:
            return
        fut = self._drain_waiters.get(stream_id)
        if fut is None or fut.done():
            fut = self.loop.create_future()
            self._drain_waiters[stream_id] = fut
        await fut

    def fail_drain(self, stream_id: int, exc: Exception) -> None:
        """Wake a writer blocked in drain() on a stream that can no longer send."""
        fut = self._drain_waiters.pop(stream_id, None)
        if fut is not None and not fut.done():
            fut.set_exception(exc)

    def _wake_drainers(self) -> None:
        if not self._drain_waiters:
            return
        for stream_id in list(self._drain_waiters):
            if self.send_buffered(stream_id) <= SEND_LOW_WATER:
                fut = self._drain_waiters.pop(stream_id)
                if not fut.done():
                    fut.set_result(None)

    # -- datagrams, control, stats ------------------------------------------------------------

    def send_datagram(self, data: bytes) -> None:
        if len(data) > MAX_DATAGRAM_PAYLOAD or self.closed.is_set():
            return
        self.quic.send_datagram_frame(data)
        self.schedule_transmit()

    def ping(self) -> None:
        if not self.closed.is_set():
            self.quic.send_ping(0)
            self.schedule_transmit()

    def use_brutal(self, bps: int) -> None:
        """Switch this connection to Brutal at ``bps`` bytes/s (after auth negotiated it)."""
        loss = self.quic._loss
        cc = loss._cc
        if not isinstance(cc, SwitchableCC):
            return
        self.brutal = cc.use_brutal(bps)
        if loss._rtt_smoothed > 0:
            # Auth already measured the path; start from it instead of the 10 KiB initial window.
            self.brutal.on_rtt_measurement(now=self.loop.time(), rtt=loss._rtt_smoothed)
        mds = self.quic._max_datagram_size
        loss._pacer = BrutalPacer(max_datagram_size=mds, brutal=self.brutal, clock=self.loop.time)

    def switch_endpoint(self, endpoint: Endpoint, peer: Addr) -> None:
        """Client port hopping: send from ``endpoint`` to ``peer`` from now on."""
        self.endpoint = endpoint
        self.peer = peer

    @property
    def rtt(self) -> float:
        return self.quic._loss._rtt_smoothed

    def stats(self) -> dict[str, Any]:
        loss = self.quic._loss
        return {
            "rtt": loss._rtt_smoothed,
            "cwnd": loss.congestion_window,
            "bytes_in_flight": loss.bytes_in_flight,
            "brutal_bps": self.brutal.bps if self.brutal else 0,
        }
