"""The node's Hysteria 2 server handler: who may connect, and where each stream goes.

The server password authenticates peers (auth id ``system``); with ``hy2_user_auth`` on,
users authenticate through the accounts part (auth id ``user:<id>:<n>``, one per connection). Only ``system``
connections may open ``_relay_*`` streams (DESIGN §4.2); users' plain targets leave through
their exit route.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import Callable
from typing import Any

from hy2scale.relay import addresses as A
from hy2scale.relay.bond import PREFIX as BOND_PREFIX
from hy2scale.relay.exits import ExitDialer, ExitError
from hy2scale.relay.handlers import handle_stream
from hy2scale.relay.mesh import Mesh, StreamContext
from hy2scale.relay.peers import UdpOutbound
from hy2scale.relay.udp import DirectUdp, serve_udp_stream
from hy2scale.streams import ByteStream, open_tcp, pipe

log = logging.getLogger("hy2scale.relay.inbound")

SYSTEM = "system"
DIRECT_TIMEOUT = 10.0


def _user_key(user: Any) -> str:
    for attr in ("id", "username"):
        value = user.get(attr) if isinstance(user, dict) else getattr(user, attr, None)
        if value:
            return str(value)
    return "unknown"


class CountedUdp:
    """A user's UDP session: datagrams count toward the user's traffic; a kick or cut closes it."""

    def __init__(self, upstream: UdpOutbound, session: Any) -> None:
        self._upstream = upstream
        self._session = session
        session.add_close_callback(upstream.close)

    async def send(self, data: bytes, addr: str) -> None:
        if self._session.closed.is_set():
            raise ExitError("udp session closed")
        self._session.add_tx(len(data))
        await self._upstream.send(data, addr)

    async def recv(self) -> tuple[bytes, str]:
        data, addr = await self._upstream.recv()
        self._session.add_rx(len(data))
        return data, addr

    def close(self) -> None:
        self._upstream.close()
        self._session.close()


class InboundHandler:
    """Implements the hy2 server handler interface of docs/internals.md."""

    def __init__(
        self,
        mesh: Mesh,
        exits: ExitDialer,
        settings: Callable[[], dict[str, Any]],
        accounts: Callable[[], Any] = lambda: None,
    ) -> None:
        self.mesh = mesh
        self.exits = exits
        self._settings = settings
        self._accounts = accounts
        # auth id of a user connection → the password it logged in with (never logged) and its address.
        self._logins: dict[str, tuple[str, Any]] = {}
        self._next_conn = 0

    async def authenticate(self, remote: tuple[str, int], auth: str, client_rx: int) -> str | None:
        settings = self._settings()
        password = settings.get("password", "")
        if password and hmac.compare_digest(auth.encode(), password.encode()):
            return SYSTEM
        if not settings.get("hy2_user_auth") or self._accounts() is None:
            log.info("event=hy2_auth_failed ip=%s reason=bad_credentials", remote[0])
            return None
        user = self._user(auth, remote)
        if user is None:
            return None
        self._next_conn += 1
        # One auth id per connection: streams re-check the login it was made with.
        auth_id = f"user:{_user_key(user)}:{self._next_conn}"
        self._logins[auth_id] = (auth, remote)
        return auth_id

    def _user(self, password: str, remote: Any) -> Any:
        """The user behind ``password`` if it may use hy2 now (enabled, not expired, under limit, not kicked)."""
        accounts = self._accounts()
        if accounts is None:
            return None
        ip = remote[0] if remote else ""
        result = accounts.authenticate(None, password, "hy2", ip)
        user = getattr(result, "user", None)
        if user is None or getattr(result, "reason", "") != "ok":
            log.info("event=hy2_auth_failed ip=%s reason=%s", ip, getattr(result, "reason", "?"))
            return None
        return user

    async def handle_tcp(self, request: Any) -> None:
        addr = A.unbracket(request.addr)
        bare, _tag = A.strip_bridge(addr)
        system = request.auth_id == SYSTEM
        if A.is_relay_address(bare) or bare.startswith((A.UDP_PREFIX, BOND_PREFIX)):
            if not system:
                await request.reject("relay streams need the node password")
                return
            stream = await request.accept()
            ctx = StreamContext(auth_id=request.auth_id, conn_key=request.remote)
            if bare.startswith(A.UDP_PREFIX):
                await serve_udp_stream(stream, bare[len(A.UDP_PREFIX) :])
            elif bare.startswith(BOND_PREFIX):
                try:
                    await self.mesh.bonds.handle_leg(bare, stream)
                finally:
                    stream.close()
            else:
                await handle_stream(self.mesh, addr, stream, ctx)
            return
        try:
            host, port = A.split_host_port(bare)
        except ValueError:
            await request.reject(f"invalid address {bare!r}")
            return
        if system:
            await self._direct(request, host, port)
        else:
            await self._as_user(request, host, port)

    async def _direct(self, request: Any, host: str, port: int) -> None:
        try:
            target = await open_tcp(host, port, timeout=DIRECT_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            await request.reject(str(exc) or type(exc).__name__)
            return
        await pipe(await request.accept(), target)

    async def _as_user(self, request: Any, host: str, port: int) -> None:
        """A user's stream: re-checked (a QUIC connection outlives edits, limits and kicks), counted, routed."""
        password, _ = self._logins.get(request.auth_id, ("", None))
        user = self._user(password, request.remote)
        if user is None:
            await request.reject("user is not allowed now")
            return
        accounts = self._accounts()
        ip = request.remote[0] if request.remote else ""
        session = accounts.open_connection(user, ip, "hy2")
        # A blocked device comes back already closed: refuse before any upstream dial.
        if session.closed.is_set():
            session.close()
            await request.reject("device is blocked")
            return
        try:
            target: ByteStream = await self.exits.open_tcp(accounts.route_for(user), host, port)
        except (OSError, TimeoutError, ExitError) as exc:
            session.close()
            await request.reject(str(exc) or type(exc).__name__)
            return
        stream = await request.accept()
        copy = asyncio.ensure_future(pipe(stream, target, a_to_b=session.add_tx, b_to_a=session.add_rx))
        kicked = asyncio.ensure_future(session.closed.wait())
        try:
            await asyncio.wait({copy, kicked}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not copy.done():
                stream.close()
                target.close()
            kicked.cancel()
            with contextlib.suppress(Exception):
                await copy
            session.close()

    async def open_udp(self, auth_id: str) -> UdpOutbound:
        if auth_id == SYSTEM:
            return DirectUdp()
        accounts = self._accounts()
        password, remote = self._logins.get(auth_id, ("", None))
        user = self._user(password, remote)
        if user is None or accounts is None:
            raise ExitError("user is not allowed now")
        session = accounts.open_connection(user, remote[0] if remote else "", "hy2")
        if session.closed.is_set():
            session.close()
            raise ExitError("device is blocked")
        try:
            upstream = await self.exits.open_udp(accounts.route_for(user))
        except BaseException:
            session.close()
            raise
        return CountedUdp(upstream, session)

    def on_disconnect(self, auth_id: str, remote: Any) -> None:
        if auth_id != SYSTEM:
            self._logins.pop(auth_id, None)
            return
        for peer in [p for p in self.mesh.peers.all() if p.direction == "inbound" and p.conn_key == remote]:
            self.mesh.remove(peer)
