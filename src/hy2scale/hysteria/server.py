"""Hysteria 2 server: HTTP/3 auth with masquerade, TCP streams (0x401) and UDP sessions."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
from typing import Protocol

from aioquic.buffer import Buffer
from aioquic.h3.connection import H3Connection
from aioquic.h3.events import DataReceived, H3Event, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import (
    ConnectionIdIssued,
    ConnectionIdRetired,
    ConnectionTerminated,
    DatagramFrameReceived,
    HandshakeCompleted,
    ProtocolNegotiated,
    QuicEvent,
    StopSendingReceived,
    StreamDataReceived,
    StreamReset,
)
from aioquic.quic.packet import (
    QuicPacketType,
    encode_quic_version_negotiation,
    pull_quic_header,
)

from . import masquerade
from .brutal import switchable_name
from .codec import (
    AUTH_PADDING,
    TCP_REQUEST_ID,
    decode_varint,
    encode_tcp_response,
    padding,
    parse_tcp_request,
    parse_udp_message,
)
from .config import ServerConfig
from .errors import ParseError
from .ports import parse_ports, split_host_ports
from .quic import Addr, Endpoint, Hy2QuicConnection, QuicConn, open_endpoint
from .salamander import Salamander
from .stream import Hy2Stream
from .tls import load_identity
from .udp import ServerUdpSession, UdpOutbound

log = logging.getLogger("hy2scale.hysteria")

STATUS_OK = 233
CID_LENGTH = 8
# Session ids are the client's choice (u32): without a cap one connection could make us open
# billions of upstream sockets, tasks, queues and defragmenters. Idle sessions are reaped, so a
# client over the cap gets new sessions again once old ones go quiet.
MAX_UDP_SESSIONS = 1024
# Password tries per connection. A client authenticates once; without a cap one QUIC connection
# could try passwords (users' ones may be weak) as fast as it sends HTTP/3 requests, handshake-free.
# Later tries get the masquerade, exactly like a wrong password, so the cap reveals nothing.
MAX_AUTH_ATTEMPTS = 3
H3_NO_ERROR = 0x100
H3_REQUEST_CANCELLED = 0x10C


class ServerHandler(Protocol):
    """What the application plugs into :class:`Hy2Server`."""

    async def authenticate(self, remote: tuple[str, int], auth: str, client_rx: int) -> str | None: ...

    async def handle_tcp(self, request: TcpRequest) -> None: ...

    async def open_udp(self, auth_id: str) -> UdpOutbound: ...

    def on_disconnect(self, auth_id: str, remote: tuple[str, int]) -> None: ...


class TcpRequest:
    """A client's TCP request; answer with :meth:`accept` or :meth:`reject` exactly once."""

    def __init__(self, stream: Hy2Stream, auth_id: str, addr: str, remote: tuple[str, int]) -> None:
        self._stream = stream
        self.auth_id = auth_id
        self.addr = addr
        self.remote = remote
        self.answered = False

    async def accept(self) -> Hy2Stream:
        """Send status 0 and hand over the stream (its first bytes are the client's payload)."""
        self._answer(True, "")
        return self._stream

    async def reject(self, message: str) -> None:
        """Send status 1 with ``message``, then close the stream."""
        self._answer(False, message)
        self._stream.close()

    def _answer(self, ok: bool, message: str) -> None:
        if self.answered:
            raise RuntimeError("TCP request already answered")
        self.answered = True
        self._stream.write(encode_tcp_response(ok, message))


def _header_map(headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    return {k.decode(errors="replace"): v.decode(errors="replace") for k, v in headers}


class _Session:
    """Protocol state of one client connection."""

    def __init__(self, server: Hy2Server, conn: QuicConn) -> None:
        self.server = server
        self.conn = conn
        self.h3: H3Connection | None = None
        self.auth_id: str | None = None
        self.remote: tuple[str, int] = conn.peer[:2]  # type: ignore[assignment]
        self.streams: dict[int, Hy2Stream] = {}
        self._closed_ids: set[int] = set()
        self._peeking: dict[int, bytearray] = {}
        self._requests: dict[int, tuple[dict[str, str], list[tuple[str, str]], bytearray]] = {}
        self._buffered = 0  # body bytes held in _requests
        self._auth_attempts = 0
        self.udp: dict[int, ServerUdpSession] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.http_tasks: set[asyncio.Task[None]] = set()
        self.cids: set[bytes] = set()

    def spawn(self, coro: object, http: bool = False) -> None:
        """Run ``coro`` for this connection; HTTP work (auth, masquerade) dies with it."""
        task = asyncio.ensure_future(coro)  # type: ignore[arg-type]
        tasks = self.http_tasks if http else self.tasks
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    # -- event routing ----------------------------------------------------------------------

    def on_event(self, event: QuicEvent) -> None:
        kind = type(event)
        if kind is StreamDataReceived:
            self._stream_data(event)  # type: ignore[arg-type]
        elif kind is DatagramFrameReceived:
            self._datagram(event.data)  # type: ignore[attr-defined]
        elif kind is StreamReset:
            sid = event.stream_id  # type: ignore[attr-defined]
            stream = self.streams.get(sid)
            if stream is not None:
                stream.reset_received(event.error_code)  # type: ignore[attr-defined]
            elif self._peeking.pop(sid, None) is None:
                self._h3(event)
        elif kind is StopSendingReceived:
            stream = self.streams.get(event.stream_id)  # type: ignore[attr-defined]
            if stream is not None:
                stream.stop_sending_received(event.error_code)  # type: ignore[attr-defined]
        elif kind is ProtocolNegotiated:
            self.h3 = H3Connection(self.conn.quic)
        elif kind is ConnectionIdIssued:
            self.server._add_cid(event.connection_id, self)  # type: ignore[attr-defined]
        elif kind is ConnectionIdRetired:
            self.server._remove_cid(event.connection_id)  # type: ignore[attr-defined]
        elif kind is HandshakeCompleted:
            log.debug("event=handshake remote=%s:%s", *self.remote)
        elif kind is ConnectionTerminated:
            self._terminated()

    def _stream_data(self, event: StreamDataReceived) -> None:
        sid = event.stream_id
        stream = self.streams.get(sid)
        if stream is not None:
            stream.feed(event.data, event.end_stream)
            return
        if sid in self._closed_ids:
            return
        buf = self._peeking.get(sid)
        if buf is None and (
            self.auth_id is not None and sid % 4 == 0 and self.h3 is not None and sid not in self.h3._stream
        ):
            # Like quic-go's stream dispatcher: only authenticated client bidi streams are peeked.
            buf = self._peeking[sid] = bytearray()
        if buf is None:
            self._h3(event)
            return
        buf += event.data
        self._peek(sid, buf, event.end_stream)

    def _peek(self, sid: int, buf: bytearray, end: bool) -> None:
        got = decode_varint(buf)
        if got is None:
            if end:
                self._peeking.pop(sid, None)
            return
        if got[0] != TCP_REQUEST_ID:
            del self._peeking[sid]
            self._h3(StreamDataReceived(data=bytes(buf), end_stream=end, stream_id=sid))
            return
        try:
            parsed = parse_tcp_request(buf)
        except ParseError as exc:
            del self._peeking[sid]
            log.info("event=bad_tcp_request remote=%s:%s error=%s", *self.remote, exc)
            self.conn.stop_stream(sid, 0)
            self.conn.reset_stream(sid, 0)
            return
        if parsed is None:
            if end:
                del self._peeking[sid]
            return
        del self._peeking[sid]
        addr, used = parsed
        stream = Hy2Stream(self.conn, sid, bytes(buf[used:]), on_close=self._stream_closed)
        if end:
            stream.feed(b"", True)
        self.streams[sid] = stream
        assert self.auth_id is not None
        self.spawn(self._serve_tcp(TcpRequest(stream, self.auth_id, addr, self.remote)))

    def _stream_closed(self, sid: int) -> None:
        self.streams.pop(sid, None)
        self._closed_ids.add(sid)
        if len(self._closed_ids) > 256:
            # Only ids aioquic still knows can get late frames; the rest need no memory.
            live = self.conn.quic._streams
            self._closed_ids = {i for i in self._closed_ids if i in live}

    async def _serve_tcp(self, request: TcpRequest) -> None:
        try:
            await self.server.handler.handle_tcp(request)
        except Exception as exc:
            log.warning("event=tcp_handler_error addr=%s error=%r", request.addr, exc)
            if not request.answered:
                with contextlib.suppress(ConnectionError):
                    await request.reject(str(exc) or type(exc).__name__)
            return
        if not request.answered:
            with contextlib.suppress(ConnectionError):
                await request.reject("request not handled")

    # -- HTTP/3 -------------------------------------------------------------------------------

    def _h3(self, event: QuicEvent) -> None:
        if self.h3 is None:
            return
        for h3_event in self.h3.handle_event(event):
            self._h3_event(h3_event)

    def _h3_event(self, event: H3Event) -> None:
        if isinstance(event, HeadersReceived):
            headers = _header_map(event.headers)
            plain = [(k.decode(errors="replace"), v.decode(errors="replace")) for k, v in event.headers]
            self._requests[event.stream_id] = (headers, plain, bytearray())
            if event.stream_ended:
                self._request_done(event.stream_id)
        elif isinstance(event, DataReceived):
            pending = self._requests.get(event.stream_id)
            if pending is None:
                return
            # Anonymous visitors send these bodies. Only the proxy masquerade forwards one, and the
            # cap is per connection: per stream it would be 16 MiB × max_incoming_streams.
            if self.server.config.masquerade.type == "proxy":
                if self._buffered + len(event.data) > masquerade.MAX_PROXY_BODY:
                    self._requests.pop(event.stream_id)
                    self._buffered -= len(pending[2])
                    self.conn.reset_stream(event.stream_id, H3_REQUEST_CANCELLED)
                    return
                pending[2].extend(event.data)
                self._buffered += len(event.data)
            if event.stream_ended:
                self._request_done(event.stream_id)

    def _request_done(self, sid: int) -> None:
        headers, plain, body = self._requests.pop(sid)
        self._buffered -= len(body)
        is_auth = (
            headers.get(":method") == "POST"
            and headers.get(":authority", headers.get("host")) == "hysteria"
            and headers.get(":path", "").split("?", 1)[0] == "/auth"
        )
        request = masquerade.Request(
            method=headers.get(":method", ""),
            authority=headers.get(":authority", ""),
            path=headers.get(":path", "/"),
            headers=plain,
            body=bytes(body),
        )
        if is_auth:
            self.spawn(self._auth(sid, headers, request), http=True)
        else:
            self.spawn(self._masquerade(sid, request), http=True)

    async def _auth(self, sid: int, headers: dict[str, str], request: masquerade.Request) -> None:
        cfg = self.server.config
        if self.auth_id is None:
            self._auth_attempts += 1  # counted before the await: concurrent tries count too
            if self._auth_attempts > MAX_AUTH_ATTEMPTS:
                await self._masquerade(sid, request)
                return
            try:
                client_rx = int(headers.get("hysteria-cc-rx", "0") or 0)
            except ValueError:
                client_rx = 0
            try:
                auth_id = await self.server.handler.authenticate(
                    self.remote, headers.get("hysteria-auth", ""), client_rx
                )
            except Exception as exc:
                log.warning("event=auth_handler_error remote=%s:%s error=%r", *self.remote, exc)
                auth_id = None
            if auth_id is None:
                log.info("event=auth_failed remote=%s:%s", *self.remote)
                await self._masquerade(sid, request)
                return
            if self.auth_id is None:
                self.auth_id = auth_id
                self._negotiate(client_rx)
                log.info("event=auth_ok remote=%s:%s id=%s", *self.remote, auth_id)
        rx = "auto" if cfg.ignore_client_bandwidth else str(cfg.max_rx)
        self._send(
            sid,
            [
                (b":status", str(STATUS_OK).encode()),
                (b"hysteria-udp", b"true" if cfg.udp else b"false"),
                (b"hysteria-cc-rx", rx.encode()),
                (b"hysteria-padding", padding(AUTH_PADDING).encode()),
            ],
            b"",
        )

    def _negotiate(self, client_rx: int) -> None:
        cfg = self.server.config
        if cfg.ignore_client_bandwidth:
            return
        tx = client_rx
        if cfg.max_tx > 0 and (tx == 0 or tx > cfg.max_tx):
            tx = cfg.max_tx
        if tx > 0:
            self.conn.use_brutal(tx)

    async def _masquerade(self, sid: int, request: masquerade.Request) -> None:
        response = await masquerade.respond(self.server.config.masquerade, request)
        self._send(sid, response.h3_headers(), response.body)

    def _send(self, sid: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        if self.h3 is None or self.conn.closed.is_set():
            return
        try:
            self.h3.send_headers(sid, headers, end_stream=not body)
            if body:
                self.h3.send_data(sid, body, end_stream=True)
        except Exception as exc:
            log.debug("event=h3_send_failed stream=%d error=%r", sid, exc)
        self.conn.schedule_transmit()

    # -- UDP ----------------------------------------------------------------------------------

    def _datagram(self, data: bytes) -> None:
        if self.auth_id is None or not self.server.config.udp:
            return
        try:
            msg = parse_udp_message(data)
        except ParseError:
            return
        session = self.udp.get(msg.session_id)
        if session is None:
            if len(self.udp) >= MAX_UDP_SESSIONS:
                log.debug("event=udp_session_refused remote=%s:%s reason=too_many", *self.remote)
                return
            auth_id = self.auth_id
            session = ServerUdpSession(
                self.conn, msg.session_id, lambda: self.server.handler.open_udp(auth_id)
            )
            self.udp[msg.session_id] = session
        session.feed(msg)

    def reap_udp(self, now: float, idle: float) -> None:
        for sid in [s for s, sess in self.udp.items() if now - sess.last_active > idle]:
            self.udp.pop(sid).close()

    # -- teardown -----------------------------------------------------------------------------

    def _terminated(self) -> None:
        self.conn.terminated()

    def finish(self) -> None:
        """Called once when the connection is gone."""
        for stream in list(self.streams.values()):
            stream.connection_lost()
        for session in self.udp.values():
            session.close()
        self.udp.clear()
        for task in list(self.http_tasks):
            task.cancel()
        if self.auth_id is not None:
            log.info("event=disconnect remote=%s:%s id=%s", *self.remote, self.auth_id)
            try:
                self.server.handler.on_disconnect(self.auth_id, self.remote)
            except Exception as exc:
                log.warning("event=disconnect_handler_error error=%r", exc)


class Hy2Server:
    """Listens on every port of ``config.listen``; one dispatcher routes packets by CID."""

    def __init__(self, config: ServerConfig, handler: ServerHandler) -> None:
        self.config = config
        self.handler = handler
        self.endpoints: list[Endpoint] = []
        self._by_cid: dict[bytes, _Session] = {}
        self.sessions: set[_Session] = set()
        self._quic_config: QuicConfiguration | None = None
        self._reaper: asyncio.Task[None] | None = None

    @property
    def ports(self) -> list[int]:
        """The bound UDP ports (useful when listening on port 0)."""
        return [ep.local_addr[1] for ep in self.endpoints]

    async def start(self) -> None:
        cfg = self.config
        qc = QuicConfiguration(
            is_client=False,
            alpn_protocols=["h3"],
            idle_timeout=cfg.idle_timeout,
            max_data=cfg.conn_window,
            max_stream_data=cfg.stream_window,
            # Receive side: aioquic rejects frames >= this; senders cap their own frames at 1200.
            max_datagram_frame_size=65536,
            congestion_control_algorithm=switchable_name(cfg.congestion),
            connection_id_length=CID_LENGTH,
        )
        load_identity(qc, cfg.cert, cfg.key)
        self._quic_config = qc
        obfs = Salamander(cfg.obfs_password) if cfg.obfs_password else None
        host, spec = split_host_ports(cfg.listen)
        ports = [0] if spec == "0" else parse_ports(spec)
        _ensure_fd_limit(len(ports))
        try:
            for port in ports:
                self.endpoints.append(await open_endpoint(host, port, self._datagram_received, obfs))
        except OSError:
            await self.stop()
            raise
        self._reaper = asyncio.ensure_future(self._reap())
        log.info("event=hy2_listen host=%s ports=%s obfs=%s", host or "*", spec, bool(obfs))

    async def stop(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            self._reaper = None
        tasks = [t for s in self.sessions for t in (*s.tasks, *s.http_tasks)]
        for session in list(self.sessions):
            session.conn.close(H3_NO_ERROR, "server stopping")
            session.conn.terminated()
        for endpoint in self.endpoints:
            endpoint.close()
        self.endpoints.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.sessions.clear()
        self._by_cid.clear()

    async def _reap(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(1.0)
            now = loop.time()
            for session in list(self.sessions):
                session.reap_udp(now, self.config.udp_idle_timeout)

    def _add_cid(self, cid: bytes, session: _Session) -> None:
        self._by_cid[cid] = session
        session.cids.add(cid)

    def _remove_cid(self, cid: bytes) -> None:
        session = self._by_cid.pop(cid, None)
        if session is not None:
            session.cids.discard(cid)

    def _datagram_received(self, data: bytes, addr: Addr, endpoint: Endpoint) -> None:
        if data and not data[0] & 0x80:
            # Short header (all traffic after the handshake): the DCID is our fixed-length CID
            # right after the first byte, so skip a full header parse on the hot path.
            session = self._by_cid.get(data[1 : 1 + CID_LENGTH])
            if session is not None:
                session.conn.datagram_received(data, addr, endpoint)
            return
        try:
            header = pull_quic_header(Buffer(data=data), host_cid_length=CID_LENGTH)
        except ValueError:
            return
        session = self._by_cid.get(header.destination_cid)
        if session is not None:
            session.conn.datagram_received(data, addr, endpoint)
            return
        session = self._new_session(header, data, addr, endpoint)
        if session is None:
            return
        session.conn.datagram_received(data, addr, endpoint)
        if session.conn.quic._peer_cid.sequence_number is None:
            # The first packet did not decrypt (garbage, a scanner, a wrong obfs key): keep no
            # state for it, or spoofed Initials would pile up connections.
            session.conn.terminated()

    def _new_session(self, header: object, data: bytes, addr: Addr, endpoint: Endpoint) -> _Session | None:
        qc = self._quic_config
        assert qc is not None
        version = header.version  # type: ignore[attr-defined]
        packet_type = header.packet_type  # type: ignore[attr-defined]
        if (
            packet_type != QuicPacketType.VERSION_NEGOTIATION
            and version is not None
            and version not in qc.supported_versions
        ):
            endpoint.send(
                encode_quic_version_negotiation(
                    source_cid=header.destination_cid,  # type: ignore[attr-defined]
                    destination_cid=header.source_cid,  # type: ignore[attr-defined]
                    supported_versions=qc.supported_versions,
                ),
                addr,
            )
            return None
        if packet_type != QuicPacketType.INITIAL or len(data) < 1200:
            return None
        odcid = header.destination_cid  # type: ignore[attr-defined]
        quic = Hy2QuicConnection(
            configuration=qc,
            max_incoming_streams=self.config.max_incoming_streams,
            original_destination_connection_id=odcid,
        )
        conn = QuicConn(quic, endpoint, addr)
        session = _Session(self, conn)
        conn.handler = session
        conn.on_terminated.append(lambda: self._session_gone(session))
        self.sessions.add(session)
        self._add_cid(odcid, session)
        self._add_cid(quic.host_cid, session)
        return session

    def _session_gone(self, session: _Session) -> None:
        self.sessions.discard(session)
        for cid in list(session.cids):
            self._by_cid.pop(cid, None)
        session.finish()


def _ensure_fd_limit(sockets: int) -> None:
    """A port-hopping range like 20000-30000 binds one socket per port; lift the soft
    RLIMIT_NOFILE (up to the hard limit) when the default 1024 would not hold them."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = sockets + 1024
    if soft != resource.RLIM_INFINITY and soft < wanted:
        new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
            log.info("event=fd_limit_raised soft=%d", new)
