"""Hysteria 2 client: connect + auth, TCP streams, UDP sessions, keepalive, port hopping."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import socket
import ssl
from typing import Any

from aioquic.h3.connection import H3Connection
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import (
    ConnectionTerminated,
    DatagramFrameReceived,
    HandshakeCompleted,
    QuicEvent,
    StopSendingReceived,
    StreamDataReceived,
    StreamReset,
)

from .brutal import switchable_name
from .codec import AUTH_PADDING, encode_tcp_request, padding, parse_tcp_response, parse_udp_message
from .config import ClientConfig
from .errors import AuthError, ClosedError, ConnectError, DialError, Hy2Error, ParseError
from .ports import parse_ports
from .quic import Addr, Endpoint, Hy2QuicConnection, QuicConn, open_endpoint
from .salamander import Salamander
from .stream import Hy2Stream
from .udp import UdpSession
from .uri import normalize_pin

log = logging.getLogger("hy2scale.hysteria")

H3_NO_ERROR = 0x100
H3_GENERAL_PROTOCOL_ERROR = 0x101

# QUIC events by class, so one dispatch serves every backend's event classes.
_EVENT_NAMES: dict[type, str] = {
    cls: cls.__name__
    for cls in (
        StreamDataReceived,
        DatagramFrameReceived,
        StreamReset,
        StopSendingReceived,
        HandshakeCompleted,
        ConnectionTerminated,
    )
}


def _use_qh3_events() -> None:
    from .qh3conn import EVENT_NAMES

    _EVENT_NAMES.update(EVENT_NAMES)


class Hy2Client:
    """One Hysteria 2 connection. Reconnecting is the caller's job (watch :attr:`closed`)."""

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        self.closed = asyncio.Event()
        self.server_rx = 0
        self.server_rx_auto = False
        self.udp_enabled = False
        self.conn: QuicConn | None = None
        self._h3: H3Connection | None = None
        self._endpoints: list[Endpoint] = []
        self._obfs = Salamander(config.obfs_password) if config.obfs_password else None
        self._ports = parse_ports(config.ports)
        self._server_ip = ""
        self._handshake: asyncio.Future[None] | None = None
        self._auth_sid = -1
        self._auth_reply: asyncio.Future[list[tuple[bytes, bytes]]] | None = None
        self._dialing: dict[int, tuple[bytearray, asyncio.Future[Hy2Stream]]] = {}
        self.streams: dict[int, Hy2Stream] = {}
        self._closed_ids: set[int] = set()
        self._sessions: dict[int, UdpSession] = {}
        self._next_session = 1
        self._tasks: list[asyncio.Task[None]] = []
        self.hops = 0

    # -- connect ------------------------------------------------------------------------------

    async def connect(self) -> None:
        """Handshake and authenticate; raises :class:`ConnectError` or :class:`AuthError`."""
        cfg = self.config
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(cfg.server, None, type=socket.SOCK_DGRAM)
        except OSError as exc:
            raise ConnectError(f"cannot resolve {cfg.server}: {exc}") from exc
        family, *_, sockaddr = infos[0]
        self._server_ip = str(sockaddr[0])
        try:
            configuration = self._quic_configuration()
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise ConnectError(f"bad TLS settings: {exc}") from exc
        endpoint = await self._new_endpoint(family)
        peer = self._peer(random.choice(self._ports))
        if cfg.backend == "qh3":
            from .qh3conn import Qh3Conn, new_connection

            conn: QuicConn = Qh3Conn(new_connection(configuration), endpoint, peer, fixed_peer=True)
        else:
            quic = Hy2QuicConnection(
                configuration=configuration,
                max_incoming_streams=100,
                omit_datagram_tp=cfg.omit_datagram_tp,
            )
            conn = QuicConn(quic, endpoint, peer, fixed_peer=True)
        self.conn = conn
        conn.handler = self
        conn.on_terminated.append(self._terminated)
        self._handshake = loop.create_future()
        conn.quic.connect(peer, now=loop.time())
        conn.transmit()
        try:
            await asyncio.wait_for(asyncio.shield(self._handshake), cfg.connect_timeout)
            self._check_pin()
            headers = await asyncio.wait_for(self._send_auth(), cfg.connect_timeout)
        except (TimeoutError, ConnectionError, ssl.SSLError) as exc:
            await self.close()
            reason = str(exc) or type(exc).__name__
            raise ConnectError(f"cannot connect to {cfg.server}: {reason}") from exc
        except Hy2Error:
            await self.close()
            raise
        except asyncio.CancelledError:
            self._abort()
            raise
        self._auth_done(headers)
        self._tasks.append(asyncio.ensure_future(self._keepalive()))
        if len(self._ports) > 1 and cfg.hop_interval > 0:
            self._tasks.append(asyncio.ensure_future(self._hop(family)))

    def _quic_configuration(self) -> Any:
        cfg = self.config
        sni = cfg.sni or cfg.server
        if cfg.backend == "qh3":
            if cfg.omit_datagram_tp:
                raise ValueError("omit_datagram_tp needs the aioquic backend")
            _use_qh3_events()
            from .qh3conn import client_configuration

            return client_configuration(
                sni=sni,
                idle_timeout=cfg.idle_timeout,
                conn_window=cfg.conn_window,
                stream_window=cfg.stream_window,
                # A pin replaces CA verification of the leaf, as with self-signed servers.
                insecure=cfg.insecure or bool(cfg.pin_sha256),
                ca=cfg.ca,
            )
        if cfg.backend != "aioquic":
            raise ValueError(f"unknown QUIC backend {cfg.backend!r}")
        qc = QuicConfiguration(
            is_client=True,
            alpn_protocols=["h3"],
            server_name=sni,
            idle_timeout=cfg.idle_timeout,
            max_data=cfg.conn_window,
            max_stream_data=cfg.stream_window,
            max_datagram_frame_size=65536,
            congestion_control_algorithm=switchable_name(cfg.congestion),
        )
        if cfg.insecure or cfg.pin_sha256:
            # A pin replaces CA verification of the leaf, as with self-signed servers.
            qc.verify_mode = ssl.CERT_NONE
        if cfg.ca:
            if "-----BEGIN" in cfg.ca:
                qc.load_verify_locations(cadata=cfg.ca.encode())
            else:
                qc.load_verify_locations(cafile=cfg.ca)
        return qc

    async def _new_endpoint(self, family: int) -> Endpoint:
        host = "::" if family == socket.AF_INET6 else "0.0.0.0"
        endpoint = await open_endpoint(host, 0, self._packet, self._obfs)
        self._endpoints.append(endpoint)
        return endpoint

    def _peer(self, port: int) -> Addr:
        return (self._server_ip, port)

    def _packet(self, data: bytes, addr: Addr, endpoint: Endpoint) -> None:
        if self.conn is not None and addr[0] == self._server_ip:
            self.conn.datagram_received(data, addr, endpoint)

    def _check_pin(self) -> None:
        pin = normalize_pin(self.config.pin_sha256)
        if not pin:
            return
        assert self.conn is not None
        der = self.conn.peer_certificate_der()
        if der is None or hashlib.sha256(der).hexdigest() != pin:
            raise ConnectError("server certificate does not match pinSHA256")

    async def _send_auth(self) -> list[tuple[bytes, bytes]]:
        assert self.conn is not None
        if self.config.backend == "qh3":
            from .qh3conn import Qh3H3Connection

            self._h3 = Qh3H3Connection(self.conn.quic)
        else:
            self._h3 = H3Connection(self.conn.quic)
        self._auth_sid = self.conn.open_stream()
        self._auth_reply = asyncio.get_running_loop().create_future()
        self._h3.send_headers(
            self._auth_sid,
            [
                (b":method", b"POST"),
                (b":scheme", b"https"),
                (b":authority", b"hysteria"),
                (b":path", b"/auth"),
                (b"hysteria-auth", self.config.password.encode()),
                (b"hysteria-cc-rx", str(self.config.max_rx).encode()),
                (b"hysteria-padding", padding(AUTH_PADDING).encode()),
            ],
            end_stream=True,
        )
        self.conn.schedule_transmit()
        return await self._auth_reply

    def _auth_done(self, headers: list[tuple[bytes, bytes]]) -> None:
        h = {k.decode(errors="replace"): v.decode(errors="replace") for k, v in headers}
        try:
            status = int(h.get(":status", "0"))
        except ValueError:
            status = 0
        assert self.conn is not None
        if status != 233:
            self.conn.close(H3_GENERAL_PROTOCOL_ERROR, "auth failed")
            self._close_endpoints()
            raise AuthError(status)
        self.udp_enabled = h.get("hysteria-udp", "").lower() in ("true", "1", "t")
        rx = h.get("hysteria-cc-rx", "0")
        if rx == "auto":
            self.server_rx_auto = True
            return
        try:
            self.server_rx = int(rx)
        except ValueError:
            self.server_rx = 0
        tx = self.server_rx
        if tx == 0 or tx > self.config.max_tx:
            tx = self.config.max_tx
        if tx > 0:
            self.conn.use_brutal(tx)
        log.debug("event=auth_ok server=%s udp=%s rx=%s", self.config.server, self.udp_enabled, rx)

    # -- events -------------------------------------------------------------------------------

    def on_event(self, event: QuicEvent) -> None:
        kind = _EVENT_NAMES.get(type(event))
        if kind == "StreamDataReceived":
            sid = event.stream_id  # type: ignore[attr-defined]
            stream = self.streams.get(sid)
            if stream is not None:
                stream.feed(event.data, event.end_stream)  # type: ignore[attr-defined]
            elif sid in self._dialing:
                self._dial_data(sid, event.data, event.end_stream)  # type: ignore[attr-defined]
            elif sid not in self._closed_ids:
                self._h3_event(event)
        elif kind == "DatagramFrameReceived":
            try:
                msg = parse_udp_message(event.data)  # type: ignore[attr-defined]
            except ParseError:
                return
            session = self._sessions.get(msg.session_id)
            if session is not None:
                session.feed(msg)
        elif kind == "StreamReset":
            sid = event.stream_id  # type: ignore[attr-defined]
            if (stream := self.streams.get(sid)) is not None:
                stream.reset_received(event.error_code)  # type: ignore[attr-defined]
            elif (dial := self._dialing.pop(sid, None)) is not None:
                if not dial[1].done():
                    dial[1].set_exception(DialError("stream reset by server"))
            else:
                self._h3_event(event)
        elif kind == "StopSendingReceived":
            if (stream := self.streams.get(event.stream_id)) is not None:  # type: ignore[attr-defined]
                stream.stop_sending_received(event.error_code)  # type: ignore[attr-defined]
        elif kind == "HandshakeCompleted":
            if self._handshake is not None and not self._handshake.done():
                self._handshake.set_result(None)
        elif kind == "ConnectionTerminated":
            if self._handshake is not None and not self._handshake.done():
                reason = event.reason_phrase or f"error 0x{event.error_code:x}"  # type: ignore[attr-defined]
                self._handshake.set_exception(ConnectionError(reason))
                self._handshake.exception()
            assert self.conn is not None
            self.conn.terminated()

    def _h3_event(self, event: QuicEvent) -> None:
        if self._h3 is None:
            return
        for h3_event in self._h3.handle_event(event):
            if (
                # By name: aioquic and qh3 each have their own event classes.
                type(h3_event).__name__ == "HeadersReceived"
                and h3_event.stream_id == self._auth_sid
                and self._auth_reply is not None
                and not self._auth_reply.done()
            ):
                self._auth_reply.set_result(h3_event.headers)

    def _terminated(self) -> None:
        self.closed.set()
        error = ConnectionResetError("connection closed")
        for fut in [self._handshake, self._auth_reply, *(f for _, f in self._dialing.values())]:
            if fut is not None and not fut.done():
                fut.set_exception(error)
                # Nobody may be waiting any more; mark it seen so asyncio does not warn.
                fut.exception()
        self._dialing.clear()
        for stream in list(self.streams.values()):
            stream.connection_lost()
        for session in self._sessions.values():
            session.connection_lost()
        for task in self._tasks:
            task.cancel()
        log.info("event=hy2_client_closed server=%s", self.config.server)

    # -- TCP ----------------------------------------------------------------------------------

    async def tcp(self, addr: str) -> Hy2Stream:
        """Open a stream to ``addr`` ("host:port"); raises :class:`DialError` with the server's
        message when refused, :class:`ClosedError` when the connection is gone."""
        conn = self._live()
        try:
            await conn.stream_slot()
        except ConnectionResetError as exc:
            raise ClosedError(str(exc)) from exc
        sid = conn.open_stream()
        fut: asyncio.Future[Hy2Stream] = conn.loop.create_future()
        self._dialing[sid] = (bytearray(), fut)
        try:
            conn.send_stream(sid, encode_tcp_request(addr))
        except ConnectionResetError as exc:
            self._dialing.pop(sid, None)
            raise ClosedError(str(exc)) from exc
        try:
            return await fut
        except ConnectionResetError as exc:
            raise ClosedError(str(exc)) from exc
        finally:
            if not fut.done():
                self._dialing.pop(sid, None)
                conn.stop_stream(sid, 0)
                conn.reset_stream(sid, 0)

    def _dial_data(self, sid: int, data: bytes, end: bool) -> None:
        buf, fut = self._dialing[sid]
        buf += data
        assert self.conn is not None
        try:
            parsed = parse_tcp_response(buf)
        except ParseError as exc:
            parsed = None
            end = True
            error = str(exc)
        else:
            error = "stream closed before the server answered"
        if parsed is None:
            if end:
                del self._dialing[sid]
                if not fut.done():
                    fut.set_exception(DialError(error))
                self.conn.stop_stream(sid, 0)
            return
        del self._dialing[sid]
        ok, message, used = parsed
        if not ok:
            self._closed_ids.add(sid)
            self.conn.stop_stream(sid, 0)
            with contextlib.suppress(ConnectionResetError):
                self.conn.send_stream(sid, b"", end=True)
            if not fut.done():
                fut.set_exception(DialError(message))
            return
        stream = Hy2Stream(self.conn, sid, bytes(buf[used:]), on_close=self._stream_closed)
        if end:
            stream.feed(b"", True)
        self.streams[sid] = stream
        if fut.done():
            stream.close()
        else:
            fut.set_result(stream)

    def _stream_closed(self, sid: int) -> None:
        self.streams.pop(sid, None)
        self._closed_ids.add(sid)
        if len(self._closed_ids) > 256 and self.conn is not None:
            alive = self.conn.stream_alive
            self._closed_ids = {i for i in self._closed_ids if alive(i)}

    # -- UDP ----------------------------------------------------------------------------------

    async def udp(self) -> UdpSession:
        conn = self._live()
        if not self.udp_enabled:
            raise Hy2Error("UDP not enabled on the server")
        session_id = self._next_session
        self._next_session += 1
        session = UdpSession(conn, session_id, lambda sid: self._sessions.pop(sid, None))
        self._sessions[session_id] = session
        return session

    # -- housekeeping -------------------------------------------------------------------------

    def _live(self) -> QuicConn:
        if self.conn is None or self.closed.is_set():
            raise ClosedError("client is not connected")
        return self.conn

    async def _keepalive(self) -> None:
        while self.conn is not None and not self.closed.is_set():
            await asyncio.sleep(self.config.keepalive)
            self.conn.ping()

    async def _hop(self, family: int) -> None:
        while self.conn is not None and not self.closed.is_set():
            await asyncio.sleep(self.config.hop_interval)
            endpoint = await self._new_endpoint(family)
            port = random.choice(self._ports)
            self.conn.switch_endpoint(endpoint, self._peer(port))
            self.conn.schedule_transmit()
            self.hops += 1
            # Replies still in flight arrive on the previous socket; older ones are closed.
            while len(self._endpoints) > 2:
                self._endpoints.pop(0).close()
            log.debug("event=port_hop server=%s port=%d", self.config.server, port)

    def _close_endpoints(self) -> None:
        for endpoint in self._endpoints:
            endpoint.close()
        self._endpoints.clear()

    @property
    def rtt(self) -> float:
        return self.conn.rtt if self.conn is not None else 0.0

    def stats(self) -> dict[str, object]:
        return self.conn.stats() if self.conn is not None else {}

    def _abort(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self.conn is not None and not self.conn.closed.is_set():
            self.conn.close(H3_NO_ERROR, "")
            self.conn.terminated()
        self.closed.set()
        self._close_endpoints()

    async def close(self) -> None:
        self._abort()
        await asyncio.gather(*self._tasks, return_exceptions=True)
