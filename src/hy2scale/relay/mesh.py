"""The mesh core: identity, peer table, flags, counters, and opening streams on peers.

Everything that reaches another node goes through :meth:`Mesh.dial_hops`; the stream handlers
(`handlers.py`) and the links (`links.py`) fill the peer table.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from hy2scale.relay import wire
from hy2scale.relay.addresses import build_via
from hy2scale.relay.bond import BondRegistry
from hy2scale.relay.counting import CountedStream
from hy2scale.relay.discovery import Limits
from hy2scale.relay.peers import Peer, PeerStats, PeerTable, UdpOutbound
from hy2scale.streams import ByteStream

log = logging.getLogger("hy2scale.relay")

CTRL_TIMEOUT = 10.0
DATA_MATCH_WAIT = 0.5


class RelayError(Exception):
    """A relay dial failed; the message is meant for logs and API errors."""


@dataclass
class StreamContext:
    """Who opened a relay stream on us: the hy2 auth id and the QUIC connection it came on."""

    auth_id: str = "system"
    conn_key: Any = None


ApiHandler = Callable[[ByteStream, str], Awaitable[None]]


class Mesh:
    def __init__(self, name: str, node_id: str, *, exit_node: bool = False, tun: bool = False) -> None:
        self.name = name
        self.node_id = node_id
        self.exit_node = exit_node
        self.tun = tun
        self.peers = PeerTable()
        self.blocked: set[str] = set()
        self.flags: dict[str, dict[str, bool]] = {}
        self.conflicts: dict[str, str] = {}
        self.clients: list[dict[str, Any]] = []
        self.discovered: dict[str, list[dict[str, Any]]] = {}
        self.totals = PeerStats()
        self.paths: dict[str, PeerStats] = {}
        self.api_handler: ApiHandler | None = None
        self.on_peer_up: list[Callable[[Peer], None]] = []
        self.limits = Limits()
        self.bonds = BondRegistry()
        self._pending: dict[str, tuple[Peer, asyncio.Future[ByteStream]]] = {}
        # Request ids are decimal (wire format) but start at a random point so they are not guessable.
        self._seq = secrets.randbelow(1 << 40)
        self._tasks: set[asyncio.Task[Any]] = set()

    # ---- bookkeeping -------------------------------------------------------------------

    def spawn(self, coro: Awaitable[Any], what: str = "task") -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.warning("event=task_failed what=%s error=%r", what, t.exception())

        task.add_done_callback(done)
        return task

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for _, fut in self._pending.values():
            if not fut.done():
                fut.cancel()
        self._pending.clear()
        for peer in self.peers.all():
            peer.cancel()
        await self.bonds.close()

    def is_conflict(self, name: str) -> bool:
        return name in self.conflicts.values()

    def usable(self, peer: Peer) -> bool:
        """Incompatible or name-conflicted peers are never used as hops."""
        return not peer.incompatible and not self.is_conflict(peer.name)

    def flag(self, path: str, key: str) -> bool:
        return bool(self.flags.get(path, {}).get(key))

    def install(self, peer: Peer) -> bool:
        accepted, replaced = self.peers.install(peer)
        if not accepted:
            log.warning("event=peer_rejected peer=%s reason=node_id_mismatch", peer.name)
            return False
        for old in replaced:
            old.cancel()
        for listener in self.on_peer_up:
            listener(peer)
        log.info(
            "event=peer_up peer=%s direction=%s native=%s version=%s",
            peer.name,
            peer.direction,
            peer.native,
            peer.meta.version if peer.meta else "",
        )
        return True

    def remove(self, peer: Peer) -> None:
        peer.cancel()
        if self.peers.remove(peer):
            log.info("event=peer_down peer=%s direction=%s", peer.name, peer.direction)
        if self.peers.get(peer.name) is None:
            self.discovered.pop(peer.name, None)

    def kick(self, name: str) -> None:
        """Drop every live entry (both slots) of ``name``."""
        for peer in [p for p in self.peers.all() if p.name == name]:
            self.remove(peer)

    # ---- counters ----------------------------------------------------------------------

    def _counted(self, stream: ByteStream, peer: Peer, hops: list[str]) -> ByteStream:
        stats = [self.totals, peer.stats]
        for i in range(2, len(hops) + 1):
            stats.append(self.paths.setdefault("/".join(hops[:i]), PeerStats()))
        for s in stats:
            s.conns += 1

        def on_tx(n: int) -> None:
            for s in stats:
                s.tx += n

        def on_rx(n: int) -> None:
            for s in stats:
                s.rx += n

        def on_close() -> None:
            for s in stats:
                s.conns -= 1

        return CountedStream(stream, on_tx, on_rx, on_close)

    def tick_rates(self, interval: float) -> None:
        self.totals.tick_rates(interval)
        for peer in self.peers.all():
            peer.stats.tick_rates(interval)
        for stats in self.paths.values():
            stats.tick_rates(interval)

    # ---- dialing -----------------------------------------------------------------------

    def hop(self, name: str) -> Peer:
        peer = self.peers.get(name)
        if peer is None or peer.transport is None or peer.closed.is_set():
            raise RelayError(f"relay: peer {name!r} not connected")
        if not self.usable(peer):
            raise RelayError(f"relay: peer {name!r} is blocked (incompatible or name conflict)")
        return peer

    async def open_on(self, peer: Peer, addr: str) -> ByteStream:
        assert peer.transport is not None
        try:
            return await peer.transport.open(addr)
        except RelayError:
            raise
        except Exception as exc:
            raise RelayError(f"relay: open {addr!r} on {peer.name!r} failed: {exc}") from exc

    async def dial_hops(self, hops: list[str], target: str) -> ByteStream:
        """Open ``target`` at the last of ``hops`` (already authorised by the caller)."""
        if not hops:
            raise RelayError("relay: empty path")
        first = self.hop(hops[0])
        if len(hops) == 1:
            stream = await self.open_on(first, target)
        else:
            if first.native:
                raise RelayError(f"relay: native peer {first.name!r} cannot forward")
            stream = await self.open_on(first, build_via(hops[1:], target))
        return self._counted(stream, first, hops)

    async def dial_udp(self, name: str) -> UdpOutbound:
        peer = self.hop(name)
        assert peer.transport is not None
        return await peer.transport.open_udp()

    # ---- ctrl requests (server side of §4) --------------------------------------------

    def next_request_id(self) -> str:
        self._seq += 1
        return str(self._seq)

    async def ctrl_request(self, peer: Peer, addr: str, timeout: float = CTRL_TIMEOUT) -> ByteStream:
        """Ask an inbound peer to open ``_relay_data_<id>`` back to us and serve ``addr`` on it."""
        if peer.ctrl is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(peer.ctrl_ready.wait(), 3.0)
        ctrl = peer.ctrl
        if ctrl is None:
            raise RelayError(f"relay: peer {peer.name!r} has no ctrl channel")
        req_id = self.next_request_id()
        fut: asyncio.Future[ByteStream] = asyncio.get_running_loop().create_future()
        self._pending[req_id] = (peer, fut)
        try:
            ctrl.write(wire.encode_request(req_id, addr))
            await ctrl.drain()
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError as exc:
            raise RelayError(f"relay: peer {peer.name!r} did not answer request for {addr!r}") from exc
        except (OSError, ConnectionError) as exc:
            raise RelayError(f"relay: ctrl to {peer.name!r} failed: {exc}") from exc
        finally:
            self._pending.pop(req_id, None)

    async def deliver_data(self, req_id: str, stream: ByteStream, conn_key: Any) -> bool:
        """Hand a `_relay_data_` stream to its waiting request; waits ≈500 ms for a late waiter.

        Only the connection the request went to (``conn_key``) may answer it: ids are sequential,
        so another peer holding our server password could otherwise predict one and take over
        a stream meant for that peer (its target and payload)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DATA_MATCH_WAIT
        while True:
            entry = self._pending.get(req_id)
            if entry is not None and entry[0].conn_key == conn_key:
                del self._pending[req_id]
                _peer, fut = entry
                if not fut.done():
                    fut.set_result(stream)
                    return True
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.01)
