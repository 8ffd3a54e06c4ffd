"""The node's Hysteria 2 server handler: who may connect, and where each stream goes.

The server password authenticates peers (auth id ``system``); with ``hy2_user_auth`` on,
users authenticate through the accounts part (auth id ``user:<id>``). Only ``system``
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
from hy2scale.relay.exits import ExitDialer, ExitError, ExitRoute
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
        self._users: dict[str, Any] = {}

    async def authenticate(self, remote: tuple[str, int], auth: str, client_rx: int) -> str | None:
        settings = self._settings()
        password = settings.get("password", "")
        if password and hmac.compare_digest(auth.encode(), password.encode()):
            return SYSTEM
        accounts = self._accounts()
        if settings.get("hy2_user_auth") and accounts is not None:
            result = accounts.authenticate(None, auth, "hy2", remote[0])
            user = getattr(result, "user", None)
            # A refused user (disabled, expired, over limit, kicked) comes back with reason != ok.
            if user is not None and getattr(result, "reason", "") == "ok":
                auth_id = f"user:{_user_key(user)}"
                self._users[auth_id] = user
                return auth_id
            log.info("event=hy2_auth_failed ip=%s reason=%s", remote[0], getattr(result, "reason", "?"))
        else:
            log.info("event=hy2_auth_failed ip=%s reason=bad_credentials", remote[0])
        return None

    def _route(self, auth_id: str) -> ExitRoute:
        accounts = self._accounts()
        user = self._users.get(auth_id)
        if accounts is None or user is None:
            return ExitRoute()
        return accounts.route_for(user)

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
        try:
            if system:
                target: ByteStream = await open_tcp(host, port, timeout=DIRECT_TIMEOUT)
            else:
                target = await self.exits.open_tcp(self._route(request.auth_id), host, port)
        except (OSError, TimeoutError, ExitError) as exc:
            await request.reject(str(exc) or type(exc).__name__)
            return
        stream = await request.accept()
        await self._relay(request.auth_id, request.remote, stream, target)

    async def _relay(self, auth_id: str, remote: Any, stream: ByteStream, target: ByteStream) -> None:
        accounts = self._accounts()
        user = self._users.get(auth_id)
        session = None
        if accounts is not None and user is not None and hasattr(accounts, "open_connection"):
            session = accounts.open_connection(user, remote[0] if remote else "", "hy2")
        if session is None:
            await pipe(stream, target)
            return
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
        return await self.exits.open_udp(self._route(auth_id))

    def on_disconnect(self, auth_id: str, remote: Any) -> None:
        if auth_id != SYSTEM:
            return
        for peer in [p for p in self.mesh.peers.all() if p.direction == "inbound" and p.conn_key == remote]:
            self.mesh.remove(peer)
