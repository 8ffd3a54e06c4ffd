"""The peer table: live relay peers, their primary/alt slots, counters and latency history."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Protocol

from hy2scale.relay.meta import PeerMeta
from hy2scale.streams import ByteStream

HISTORY = 120


class UdpOutbound(Protocol):
    async def send(self, data: bytes, addr: str) -> None: ...

    async def recv(self) -> tuple[bytes, str]: ...

    def close(self) -> None: ...


class PeerTransport(Protocol):
    """How this node opens streams on a peer: its hy2 client (outbound) or its ctrl (inbound)."""

    async def open(self, addr: str) -> ByteStream: ...

    async def open_udp(self) -> UdpOutbound: ...


@dataclass
class PeerStats:
    tx: int = 0
    rx: int = 0
    tx_rate: int = 0
    rx_rate: int = 0
    conns: int = 0
    latency_ms: int = -1
    fail_count: int = 0
    ping_ok: int = 0
    ping_fail: int = 0
    history: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=HISTORY))
    _last_tx: int = 0
    _last_rx: int = 0

    def set_latency(self, ms: int) -> None:
        """Record a sample; a failure (-1) keeps the last good value visible."""
        self.history.append((time.time(), ms))
        if ms > 0 or self.latency_ms <= 0:
            self.latency_ms = ms

    def tick_rates(self, interval: float) -> None:
        self.tx_rate = int((self.tx - self._last_tx) / interval)
        self.rx_rate = int((self.rx - self._last_rx) / interval)
        self._last_tx, self._last_rx = self.tx, self.rx


@dataclass(eq=False)
class Peer:
    name: str
    direction: str  # "outbound" (we dialed) or "inbound" (it registered with us)
    meta: PeerMeta | None = None
    exit_node: bool = False
    native: bool = False
    transport: PeerTransport | None = None
    conn_key: Any = None
    addr: str = ""
    stats: PeerStats = field(default_factory=PeerStats)
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    connected_at: float = field(default_factory=time.time)
    ctrl: ByteStream | None = None
    ctrl_ready: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def node_id(self) -> str:
        return self.meta.node_id if self.meta else ""

    @property
    def incompatible(self) -> bool:
        return not self.native and (self.meta is None or self.meta.incompatible)

    @property
    def unsupported(self) -> bool:
        return self.meta is not None and self.meta.unsupported

    def cancel(self) -> None:
        self.closed.set()

    def info(self) -> dict[str, Any]:
        """The flattened PeerInfo of `_relay_list_peers_` (relay spec §8.2)."""
        out: dict[str, Any] = {
            "name": self.name,
            "exit_node": self.exit_node,
            "direction": self.direction,
            "native": self.native,
            "latency_ms": self.stats.latency_ms,
            "connected": True,
        }
        if self.meta is not None and not self.native:
            out.update(version=self.meta.version, node_id=self.meta.node_id, pv=self.meta.pv)
            if self.meta.tun:
                out["tun_capable"] = True
            if self.incompatible:
                out["incompatible"] = True
            if self.unsupported:
                out["unsupported"] = True
        return out


class PeerTable:
    """Primary slot per name (used for routing) plus an alt slot for the other direction of a
    mutual dial; the node-id impostor rule guards both (relay spec §3.4)."""

    def __init__(self) -> None:
        self.primary: dict[str, Peer] = {}
        self.alt: dict[str, Peer] = {}

    def get(self, name: str) -> Peer | None:
        return self.primary.get(name)

    def all(self) -> list[Peer]:
        return list(self.primary.values()) + list(self.alt.values())

    def install(self, peer: Peer) -> tuple[bool, list[Peer]]:
        """Place ``peer``; returns (accepted, peers replaced and to be cancelled)."""
        name, new_id = peer.name, peer.node_id
        cur, alt = self.primary.get(name), self.alt.get(name)
        for slot in (cur, alt):
            if slot is not None and slot.node_id and new_id and slot.node_id != new_id:
                return False, []
        if cur is None:
            if alt is not None and alt.direction == peer.direction:
                self.alt[name] = peer
                return True, [alt]
            self.primary[name] = peer
            return True, []
        if cur.direction == peer.direction:
            self.primary[name] = peer
            return True, [cur]
        if not (cur.node_id and new_id):
            self.primary[name] = peer
            return True, [cur]
        if peer.direction == "outbound":
            # Mutual dial: our own outbound link routes; the inbound one waits in alt.
            old_alt = self.alt.get(name)
            self.primary[name], self.alt[name] = peer, cur
            return True, [old_alt] if old_alt is not None else []
        old_alt = self.alt.get(name)
        self.alt[name] = peer
        return True, [old_alt] if old_alt is not None and old_alt is not peer else []

    def remove(self, peer: Peer) -> bool:
        """Remove ``peer`` if it is still current; an alt is promoted when the primary goes."""
        name = peer.name
        if self.primary.get(name) is peer:
            promoted = self.alt.pop(name, None)
            if promoted is not None:
                self.primary[name] = promoted
            else:
                del self.primary[name]
            return True
        if self.alt.get(name) is peer:
            del self.alt[name]
            return True
        return False
