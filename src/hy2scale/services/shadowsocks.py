"""Shadowsocks service (SIP004 AEAD and SIP022 2022-blake3), TCP and UDP on one port, multi-user.

SIP004 and 2022-chacha20 find the user by trial decryption over every user's key; 2022 AES
methods read the user from the identity header (the server key is `psk` in the shadowsocks
section, or one derived from the node's server password). A connection that fails to
authenticate is drained until the client gives up, so probes learn nothing from timing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
import time
from collections.abc import Callable
from typing import Any

import blake3
from cryptography.exceptions import InvalidTag

from hy2scale.accounts.sessions import Connection
from hy2scale.accounts.users import User
from hy2scale.services import ss_codec as ss
from hy2scale.services.base import TcpService, parse_listen
from hy2scale.services.common import HANDSHAKE_TIMEOUT, relay
from hy2scale.services.exits import UdpOutbound, join_addr, split_addr
from hy2scale.streams import CHUNK, ByteStream

log = logging.getLogger("hy2scale.services.ss")

DRAIN_TIMEOUT = 60.0
# Salts remembered per user for the replay window (60 s): far above any real client's rate.
SALTS_PER_USER = 50_000
UDP_IDLE = 60.0
# UDP sessions are keyed by client-chosen data (a 2022 session id, a SIP004 source address, and
# SIP004 packets can be replayed from anywhere): without a cap one user's key could make us hold
# an upstream socket and a task per key until the idle timeout.
MAX_UDP_SESSIONS_PER_USER = 256
BAD_AUTH = (InvalidTag, ss.SsError, asyncio.IncompleteReadError, TimeoutError, ValueError)


def server_key(node: Any, config: dict[str, Any], method: ss.Method) -> bytes:
    """The 2022 identity PSK: configured `psk`, else derived from the node's server password."""
    if config.get("psk"):
        return ss.decode_psk(str(config["psk"]), method.key_len)
    secret = str(node.store.sections.get("server").get("password", ""))
    return blake3.blake3(secret.encode(), derive_key_context="hy2scale shadowsocks 2022 server psk").digest(
        method.key_len
    )


class _Candidate:
    __slots__ = ("key", "password", "user")

    def __init__(self, user: User, password: str, key: bytes) -> None:
        self.user = user
        self.password = password
        self.key = key


class SsStream:
    """The client side of an authenticated session as a plain ByteStream (decrypts reads, seals writes)."""

    def __init__(
        self,
        raw: ByteStream,
        opener: ss.ChunkOpener,
        first_write: bytes,
        sealer: ss.ChunkSealer,
        header: Callable[[int], bytes] | None,
        pending: list[bytes] | None = None,
    ) -> None:
        self._raw = raw
        self._opener = opener
        self._sealer = sealer
        self._prefix = first_write  # our salt, sent with the first payload
        self._header = header  # 2022: builds the response header for the first chunk
        self._pending = [p for p in pending or [] if p]  # payloads already decrypted during the handshake

    async def read(self, n: int = -1) -> bytes:
        while not self._pending:
            data = await self._raw.read(CHUNK)
            if not data:
                return b""
            self._pending = [p for p in self._opener.feed(data) if p]
        if n < 0 or n >= len(self._pending[0]):
            return self._pending.pop(0)
        head, self._pending[0] = self._pending[0][:n], self._pending[0][n:]
        return head

    async def readexactly(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            data = await self.read(n - len(out))
            if not data:
                raise asyncio.IncompleteReadError(out, n)
            out += data
        return out

    def write(self, data: bytes) -> None:
        if not data:
            return
        out = b""
        if self._prefix:
            out, self._prefix = self._prefix, b""
            if self._header is not None:
                first, data = data[: ss.SIP022_MAX], data[ss.SIP022_MAX :]
                out += self._sealer.seal(self._header(len(first))) + self._sealer.seal(first)
                self._header = None
        self._raw.write(out + self._sealer.chunks(data))

    async def drain(self) -> None:
        await self._raw.drain()

    def write_eof(self) -> None:
        self._raw.write_eof()

    def close(self) -> None:
        self._raw.close()

    async def wait_closed(self) -> None:
        await self._raw.wait_closed()


class ShadowsocksService(TcpService):
    protocol = "ss"

    def __init__(self, node: Any, config: dict[str, Any], tls: ssl.SSLContext | None = None) -> None:
        super().__init__(node, config, tls)
        method = ss.METHODS.get(str(config.get("method") or "aes-256-gcm"))
        if method is None:
            raise ValueError(f"unsupported method {config.get('method')!r}")
        self.method = method
        self.identity_key = server_key(node, config, method) if method.is_2022 and not method.chacha else None
        # One replay filter per user: a salt only opens under its user's key, so per-user filters
        # catch every replay, and one user filling theirs cannot lock the others out.
        self._salts: dict[str, ss.SaltCache] = {}
        self._version = -1
        self._candidates: list[_Candidate] = []
        self._by_hash: dict[bytes, _Candidate] = {}
        self._udp: asyncio.DatagramTransport | None = None
        self._udp_sessions: dict[Any, _UdpSession] = {}

    # ---- users ---------------------------------------------------------------------------

    def candidates(self) -> list[_Candidate]:
        """Users allowed on ss with their derived keys, recomputed when the users change."""
        if self._version != self.accounts.version:
            candidates = []
            for user, password in self.accounts.password_users(self.protocol):
                try:
                    candidates.append(_Candidate(user, password, self.method.user_key(password)))
                except ss.SsError:
                    log.info("event=ss_user_skipped user=%s reason=password_not_a_psk", user.username)
            self._candidates = candidates
            self._by_hash = {ss.identity_hash(c.key): c for c in candidates}
            self._version = self.accounts.version
        return self._candidates

    def _admit(self, candidate: _Candidate, ip: str) -> User | None:
        result = self.accounts.authenticate(None, candidate.password, self.protocol, ip)
        return result.user if result.ok else None

    # ---- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        await super().start()
        host, _ = parse_listen(str(self.config["listen"]))
        loop = asyncio.get_running_loop()
        try:
            self._udp, _ = await loop.create_datagram_endpoint(
                lambda: _UdpProtocol(self), local_addr=(host, self.bound_port())
            )
        except OSError:
            await super().stop()
            raise

    async def stop(self, drop_connections: bool = False) -> None:
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        for session in list(self._udp_sessions.values()):
            session.close()
        await super().stop(drop_connections)

    # ---- TCP -----------------------------------------------------------------------------

    async def handle(self, stream: ByteStream, ip: str) -> None:
        try:
            async with asyncio.timeout(HANDSHAKE_TIMEOUT):
                if self.method.is_2022:
                    found = await self._handshake_2022(stream)
                else:
                    found = await self._handshake_sip004(stream)
        except BAD_AUTH:
            found = None
        if found is None:
            await _drain(stream)
            return
        candidate, client, host, port, payload = found
        user = self._admit(candidate, ip)
        conn = self.accounts.open_connection(user, ip, self.protocol) if user is not None else None
        if conn is None or conn.closed.is_set():
            await _drain(stream)
            return
        try:
            upstream = await self.exits.open_tcp(self.accounts.route_for(user), host, port)
        except Exception as exc:
            conn.close()
            log.info("event=dial_failed service=ss target=%s:%d error=%s", host, port, type(exc).__name__)
            return
        if payload:
            conn.add_tx(len(payload))
            upstream.write(payload)
        await relay(conn, client, upstream)

    def _salt_filter(self, candidate: _Candidate) -> ss.SaltCache:
        salts = self._salts.get(candidate.user.id)
        if salts is None:
            salts = self._salts[candidate.user.id] = ss.SaltCache(limit=SALTS_PER_USER)
        return salts

    async def _handshake_sip004(
        self, stream: ByteStream
    ) -> tuple[_Candidate, SsStream, str, int, bytes] | None:
        m = self.method
        head = await stream.readexactly(m.salt_len + 2 + ss.TAG)
        salt, first = head[: m.salt_len], head[m.salt_len :]
        for candidate in self.candidates():
            subkey = m.session_key(candidate.key, salt)
            opener = ss.ChunkOpener(m, subkey)
            try:
                opener.feed(first)
            except InvalidTag:
                continue
            if not self._salt_filter(candidate).check_and_add(salt):
                raise ss.SsError("replayed salt")
            payloads: list[bytes] = []
            while not payloads:
                data = await stream.read(CHUNK)
                if not data:
                    return None
                payloads = opener.feed(data)
            target = ss.parse_address(payloads[0])
            if target is None:
                return None
            (host, port), end = target
            out_salt = os.urandom(m.salt_len)
            sealer = ss.ChunkSealer(m, m.session_key(candidate.key, out_salt))
            client = SsStream(stream, opener, out_salt, sealer, None, payloads[1:])
            return candidate, client, host, port, payloads[0][end:]
        return None

    async def _handshake_2022(
        self, stream: ByteStream
    ) -> tuple[_Candidate, SsStream, str, int, bytes] | None:
        m = self.method
        eih_len = 16 if self.identity_key is not None else 0
        head = await stream.readexactly(m.salt_len + eih_len + 11 + ss.TAG)
        salt, eih, fixed = (
            head[: m.salt_len],
            head[m.salt_len : m.salt_len + eih_len],
            head[m.salt_len + eih_len :],
        )
        candidates = self.candidates()
        if self.identity_key is not None:
            user_hash = ss.aes_block_decrypt(ss.identity_subkey(m, self.identity_key, salt), eih)
            found = self._by_hash.get(user_hash)
            candidates = [found] if found is not None else []
        for candidate in candidates:
            opener = ss.ChunkOpener(m, m.session_key(candidate.key, salt))
            try:
                length = ss.parse_request_fixed_header(opener.open(fixed))
            except InvalidTag:
                continue
            if not self._salt_filter(candidate).check_and_add(salt):
                raise ss.SsError("replayed salt")
            host, port, payload = ss.parse_request_variable_header(
                opener.open(await stream.readexactly(length + ss.TAG))
            )
            out_salt = os.urandom(m.salt_len)
            sealer = ss.ChunkSealer(m, m.session_key(candidate.key, out_salt))
            client = SsStream(stream, opener, out_salt, sealer, lambda n: ss.response_fixed_header(salt, n))
            return candidate, client, host, port, payload
        return None

    # ---- UDP -----------------------------------------------------------------------------

    def datagram(self, packet: bytes, addr: tuple[Any, ...]) -> None:
        try:
            if self.method.is_2022:
                self._datagram_2022(packet, addr)
            else:
                self._datagram_sip004(packet, addr)
        except BAD_AUTH:
            return  # unauthenticated UDP is dropped silently

    def _datagram_sip004(self, packet: bytes, addr: tuple[Any, ...]) -> None:
        for candidate in self.candidates():
            try:
                host, port, payload = ss.sip004_udp_open(self.method, candidate.key, packet)
            except InvalidTag:
                continue
            key = (addr, candidate.user.id)
            session = self._udp_sessions.get(key) or self._new_udp_session(key, candidate, addr, None)
            if session is not None:
                session.forward(host, port, payload)
            return

    def _datagram_2022(self, packet: bytes, addr: tuple[Any, ...]) -> None:
        if self.identity_key is None:
            # 2022-chacha20 has no identity header: the user is whoever's PSK opens the packet.
            for candidate in self.candidates():
                try:
                    message = ss.udp2022_chacha_open(candidate.key, packet, server=True)
                except InvalidTag:
                    continue
                break
            else:
                return
        else:
            header = ss.udp2022_open_header(self.identity_key, packet)
            self.candidates()
            found = self._by_hash.get(ss.udp2022_user_hash(self.identity_key, header, packet))
            if found is None:
                return
            candidate = found
            message = ss.udp2022_open_body(self.method, candidate.key, header, packet[32:], server=True)
        key = (message.session_id, candidate.user.id)
        session = self._udp_sessions.get(key)
        if session is None:
            session = self._new_udp_session(key, candidate, addr, message.session_id)
            if session is None:
                return
        if not session.accept_packet_id(message.packet_id):
            return
        session.client_addr = addr
        session.forward(message.host, message.port, message.payload)

    def _new_udp_session(
        self, key: Any, candidate: _Candidate, addr: tuple[Any, ...], client_session: bytes | None
    ) -> _UdpSession | None:
        if self._udp is None:
            return None
        user = self._admit(candidate, str(addr[0]))
        if user is None:
            return None
        if sum(1 for k in self._udp_sessions if k[1] == candidate.user.id) >= MAX_UDP_SESSIONS_PER_USER:
            return None
        conn = self.accounts.open_connection(user, str(addr[0]), self.protocol)
        if conn.closed.is_set():
            return None
        session = _UdpSession(self, key, candidate, conn, addr, client_session)
        self._udp_sessions[key] = session
        return session


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, service: ShadowsocksService) -> None:
        self.service = service

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.service.datagram(data, addr)


class _UdpSession:
    """One client UDP session: an exit socket, a reply pump and an idle timer."""

    def __init__(
        self,
        service: ShadowsocksService,
        key: Any,
        candidate: _Candidate,
        conn: Connection,
        addr: tuple[Any, ...],
        client_session: bytes | None,
    ) -> None:
        self.service = service
        self.key = key
        self.candidate = candidate
        self.conn = conn
        self.client_addr = addr
        self.client_session = client_session
        self.server_session = os.urandom(8)
        self.packet_id = 0
        self._seen: set[int] = set()
        self._max_seen = -1
        self._queue: asyncio.Queue[tuple[str, int, bytes]] = asyncio.Queue(512)
        self._last = time.monotonic()
        self._task = asyncio.ensure_future(self._run())
        conn.add_close_callback(self._task.cancel)

    def accept_packet_id(self, packet_id: int) -> bool:
        """Sliding-window replay filter over the last 1024 packet ids."""
        if packet_id <= self._max_seen - 1024 or packet_id in self._seen:
            return False
        self._seen.add(packet_id)
        if packet_id > self._max_seen:
            self._max_seen = packet_id
            if len(self._seen) > 2048:
                self._seen = {p for p in self._seen if p > self._max_seen - 1024}
        return True

    def forward(self, host: str, port: int, payload: bytes) -> None:
        self._last = time.monotonic()
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait((host, port, payload))

    async def _run(self) -> None:
        upstream: UdpOutbound | None = None
        try:
            upstream = await self.service.exits.open_udp(self.service.accounts.route_for(self.candidate.user))
            pump = asyncio.ensure_future(self._replies(upstream))
            try:
                while True:
                    try:
                        async with asyncio.timeout(UDP_IDLE):
                            host, port, payload = await self._queue.get()
                    except TimeoutError:
                        if time.monotonic() - self._last >= UDP_IDLE:
                            return
                        continue
                    self.conn.add_tx(len(payload))
                    with contextlib.suppress(OSError):
                        await upstream.send(payload, join_addr(host, port))
            finally:
                pump.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pump
        except Exception:
            log.exception("event=ss_udp_session_failed")
        finally:
            if upstream is not None:
                upstream.close()
            self.close()

    async def _replies(self, upstream: UdpOutbound) -> None:
        m = self.service.method
        key = self.candidate.key
        while True:
            payload, addr = await upstream.recv()
            self._last = time.monotonic()
            host, port = split_addr(addr)
            if self.client_session is None:
                packet = ss.sip004_udp_seal(m, key, host, port, payload)
            elif m.chacha:
                packet = ss.udp2022_chacha_seal(
                    key, self.server_session, self.packet_id, host, port, payload, self.client_session
                )
                self.packet_id += 1
            else:
                packet = ss.udp2022_seal(
                    m, key, key, self.server_session, self.packet_id, host, port, payload, self.client_session
                )
                self.packet_id += 1
            transport = self.service._udp
            if transport is None:
                return
            self.conn.add_rx(len(payload))
            transport.sendto(packet, self.client_addr)

    def close(self) -> None:
        if self.service._udp_sessions.get(self.key) is self:
            del self.service._udp_sessions[self.key]
        self._task.cancel()
        self.conn.close()


async def _drain(stream: ByteStream) -> None:
    """Read and discard until the peer closes (bounded in time), then close: no early FIN/RST oracle."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(DRAIN_TIMEOUT):
            while await stream.read(CHUNK):
                pass
