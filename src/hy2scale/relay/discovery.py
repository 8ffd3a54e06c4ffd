"""Nested discovery (relay spec §8): what we publish on `_relay_list_peers_`, fetching peers'
lists, and the topology tree of GET /api/topology.

Rules: a name never appears twice on a path (self counts); descendants of a path are published,
fetched, shown and routed to only when that path's ``nested`` flag is on here; only direct
peers are queried, deeper levels arrive embedded in their answers.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hy2scale.relay.addresses import LIST_PEERS
from hy2scale.relay.streamio import close_quietly, read_all

if TYPE_CHECKING:
    from hy2scale.relay.mesh import Mesh
    from hy2scale.relay.peers import Peer

log = logging.getLogger("hy2scale.relay.discovery")

FETCH_TIMEOUT = 3.0
# (default, maximum) per limit; the `ui` settings hold raw values where 0 means the default.
LIMITS = {
    "max_nested_depth": (5, 10),
    "max_response_nodes": (1024, 65536),
    "max_response_bytes": (1024 * 1024, 16 * 1024 * 1024),
    "max_fetch_fan_out": (8, 64),
}
DEPTH_ENV = "HY2SCALE_MAX_NESTED_DEPTH"


@dataclass(frozen=True)
class Limits:
    depth: int = LIMITS["max_nested_depth"][0]
    nodes: int = LIMITS["max_response_nodes"][0]
    bytes: int = LIMITS["max_response_bytes"][0]
    fan_out: int = LIMITS["max_fetch_fan_out"][0]


def limits_from(ui: dict[str, Any], env: dict[str, str]) -> Limits:
    """Clamp the configured limits (relay spec §8.3); the env var overrides the depth."""

    def value(key: str) -> int:
        default, maximum = LIMITS[key]
        raw = ui.get(key) or 0
        return min(int(raw), maximum) if isinstance(raw, int) and raw > 0 else default

    depth = value("max_nested_depth")
    if env.get(DEPTH_ENV, "").isdigit() and int(env[DEPTH_ENV]) > 0:
        depth = int(env[DEPTH_ENV])
    return Limits(depth, value("max_response_nodes"), value("max_response_bytes"), value("max_fetch_fan_out"))


@dataclass
class _Budget:
    nodes: int


def _max_rate(entry: dict[str, Any] | None) -> int:
    if not entry:
        return 0
    return max(int(entry.get("max_tx") or 0), int(entry.get("max_rx") or 0))


def client_entry(mesh: Mesh, name: str) -> dict[str, Any] | None:
    return next((c for c in mesh.clients if c.get("name") == name), None)


def _sub_peers(
    mesh: Mesh,
    hops: list[str],
    items: Any,
    base_latency: int,
    budget: _Budget,
    *,
    publish: bool,
) -> list[dict[str, Any]]:
    """Children of the path ``hops`` built from the list ``items`` that its last hop reported."""
    if not isinstance(items, list) or len(hops) > mesh.limits.depth:
        return []
    seen = {mesh.name, mesh.node_id, *hops}
    out: list[dict[str, Any]] = []
    for item in items:
        if budget.nodes <= 0:
            break
        if not isinstance(item, dict):
            continue
        name = item.get("name")
        if not isinstance(name, str) or not name or name in seen or "/" in name:
            continue
        seen.add(name)
        path = "/".join([*hops, name])
        disabled = mesh.flag(path, "disabled")
        if publish and disabled:
            continue
        budget.nodes -= 1
        latency = item.get("latency_ms")
        latency = latency if isinstance(latency, int) else -1
        cumulative = latency + base_latency if latency >= 0 and base_latency >= 0 else -1
        stats = mesh.paths.get(path)
        node: dict[str, Any] = {
            "name": name,
            "exit_node": bool(item.get("exit_node")),
            "direction": item.get("direction") if isinstance(item.get("direction"), str) else "outbound",
            "via": hops[-1],
            "latency_ms": cumulative,
            "nested": mesh.flag(path, "nested"),
            "tx_rate": stats.tx_rate if stats else 0,
            "rx_rate": stats.rx_rate if stats else 0,
            "connected": item.get("connected", True) is not False,
        }
        if disabled:
            node["disabled"] = True
        for key in ("native", "version", "tun_capable", "max_rate"):
            if item.get(key):
                node[key] = item[key]
        if node["nested"] and item.get("children"):
            children = _sub_peers(mesh, [*hops, name], item["children"], cumulative, budget, publish=publish)
            if children:
                node["children"] = children
        out.append(node)
    return out


def children_of(
    mesh: Mesh, peer: Peer, *, publish: bool, budget: _Budget | None = None
) -> list[dict[str, Any]]:
    if not mesh.flag(peer.name, "nested") or peer.native or not mesh.usable(peer) or peer.unsupported:
        return []
    return _sub_peers(
        mesh,
        [peer.name],
        mesh.discovered.get(peer.name, []),
        peer.stats.latency_ms,
        budget or _Budget(mesh.limits.nodes),
        publish=publish,
    )


def list_peers_payload(mesh: Mesh) -> list[dict[str, Any]]:
    """Our answer on `_relay_list_peers_` (§8.2): live primary peers plus configured, offline clients."""
    out: list[dict[str, Any]] = []
    budget = _Budget(mesh.limits.nodes)
    live: set[str] = set()
    for peer in list(mesh.peers.primary.values()):
        live.add(peer.name)
        if mesh.flag(peer.name, "disabled") or peer.name in mesh.blocked:
            continue
        info = peer.info()
        rate = _max_rate(client_entry(mesh, peer.name))
        if rate:
            info["max_rate"] = rate
        children = children_of(mesh, peer, publish=True, budget=budget)
        if children:
            info["children"] = children
        out.append(info)
    for entry in mesh.clients:
        name = entry.get("name", "")
        if name and name not in live and not entry.get("disabled") and not mesh.flag(name, "disabled"):
            out.append(
                {
                    "name": name,
                    "exit_node": False,
                    "direction": "outbound",
                    "native": False,
                    "latency_ms": -1,
                    "connected": False,
                }
            )
    return out


async def fetch_peer_list(mesh: Mesh, name: str) -> list[dict[str, Any]]:
    """Ask the direct peer ``name`` for its list (bounded in time and size)."""

    async def fetch() -> bytes:
        stream = await mesh.dial_hops([name], LIST_PEERS)
        try:
            return await read_all(stream, mesh.limits.bytes)
        finally:
            await close_quietly(stream)

    raw = await asyncio.wait_for(fetch(), FETCH_TIMEOUT)
    value = json.loads(raw) if raw.strip() else []
    if not isinstance(value, list):
        raise ValueError("peer list is not a JSON array")
    return [item for item in value if isinstance(item, dict)]


async def refresh(mesh: Mesh) -> None:
    """One discovery round: refetch every nested-enabled, connected, non-native direct peer."""
    sem = asyncio.Semaphore(mesh.limits.fan_out)
    targets = [
        p
        for p in list(mesh.peers.primary.values())
        if mesh.flag(p.name, "nested") and not p.native and mesh.usable(p) and not p.closed.is_set()
    ]
    for name in list(mesh.discovered):
        if not mesh.flag(name, "nested"):
            del mesh.discovered[name]

    async def one(peer: Peer) -> None:
        async with sem:
            try:
                mesh.discovered[peer.name] = await fetch_peer_list(mesh, peer.name)
            except Exception as exc:
                log.info("event=list_peers_failed peer=%s error=%s", peer.name, exc)

    await asyncio.gather(*(one(p) for p in targets))


def find_paths_to(mesh: Mesh, target: str) -> list[str]:
    """Authorised paths ending at ``target`` found in the discovery cache, shortest first."""
    found: list[str] = []

    def walk(hops: list[str], items: Any) -> None:
        if (
            not isinstance(items, list)
            or len(hops) >= mesh.limits.depth
            or not mesh.flag("/".join(hops), "nested")
        ):
            return
        for item in items:
            if not isinstance(item, dict):
                continue
            name = item.get("name")
            if not isinstance(name, str) or name in hops or name in (mesh.name, mesh.node_id):
                continue
            path = [*hops, name]
            if item.get("connected", True) is False or mesh.flag("/".join(path), "disabled"):
                continue
            if name == target:
                found.append("/".join(path))
            elif not item.get("native"):
                walk(path, item.get("children"))

    for name, items in list(mesh.discovered.items()):
        peer = mesh.peers.get(name)
        if peer is not None and mesh.usable(peer):
            walk([name], items)
    return sorted(found, key=lambda p: p.count("/"))


def path_latency(mesh: Mesh, hops: list[str]) -> int:
    """Measured latency from here to the last of ``hops`` (first hop's probe plus each parent's
    reported latency to the next), or -1 when a leg is unknown."""
    first = mesh.peers.get(hops[0]) if hops else None
    if first is None or first.stats.latency_ms <= 0:
        return -1
    total, level = first.stats.latency_ms, mesh.discovered.get(hops[0], [])
    for hop in hops[1:]:
        item = next((i for i in level if isinstance(i, dict) and i.get("name") == hop), None)
        latency = item.get("latency_ms") if item is not None else None
        if not isinstance(latency, int) or latency < 0:
            return -1
        total += latency
        level = item.get("children") or []
    return total


def topology(mesh: Mesh, server_listen: str = "", server_disabled: bool = False) -> list[dict[str, Any]]:
    """The flat array of GET /api/topology (api spec §3.2.4): self first, then peers by name."""
    budget = _Budget(mesh.limits.nodes)
    inbound_children: list[dict[str, Any]] = []
    for peer in sorted((p for p in mesh.peers.all() if p.direction == "inbound"), key=lambda p: p.name):
        node: dict[str, Any] = {
            "name": peer.name,
            "exit_node": peer.exit_node,
            "direction": "inbound",
            "via": mesh.node_id,
            "latency_ms": peer.stats.latency_ms,
            "nested": mesh.flag(peer.name, "nested"),
            "tx_rate": peer.stats.tx_rate,
            "rx_rate": peer.stats.rx_rate,
            "connected": True,
        }
        if mesh.flag(peer.name, "disabled"):
            node["disabled"] = True
        if peer.meta is not None:
            node["version"] = peer.meta.version
            if peer.meta.tun:
                node["tun_capable"] = True
        children = children_of(mesh, peer, publish=False, budget=budget)
        if children:
            node["children"] = children
        inbound_children.append(node)
    me: dict[str, Any] = {
        "name": mesh.node_id,
        "exit_node": mesh.exit_node,
        "direction": "local",
        "connected": True,
        "disabled": server_disabled,
        "nested": False,
        "latency_ms": 0,
        "tx_rate": mesh.totals.tx_rate,
        "rx_rate": mesh.totals.rx_rate,
        "is_self": True,
    }
    if server_listen:
        me["addr"] = server_listen
    if mesh.tun:
        me["tun_capable"] = True
    if inbound_children:
        me["children"] = inbound_children
    out = [me]
    names = {p.name for p in mesh.peers.all()} | {c.get("name", "") for c in mesh.clients}
    for name in sorted(n for n in names if n):
        entry = client_entry(mesh, name)
        peer = mesh.peers.get(name)
        if entry is None and (peer is None or peer.direction == "inbound"):
            continue
        out.append(_tree_node(mesh, name, entry, peer, budget))
    return out


def _tree_node(
    mesh: Mesh, name: str, entry: dict[str, Any] | None, peer: Peer | None, budget: _Budget
) -> dict[str, Any]:
    disabled = bool(entry and entry.get("disabled"))
    connected = peer is not None and not disabled
    node: dict[str, Any] = {"name": name, "addr": (entry or {}).get("addr", "")}
    addrs = (entry or {}).get("addrs") or []
    if len(addrs) > 1:
        node["addrs"] = list(addrs)
    node.update(
        exit_node=peer.exit_node if peer else False,
        direction="outbound" if entry is not None else (peer.direction if peer else "outbound"),
        connected=connected,
        disabled=disabled,
        nested=mesh.flag(name, "nested"),
        latency_ms=peer.stats.latency_ms if connected and peer else -1,
        tx_rate=peer.stats.tx_rate if peer else 0,
        rx_rate=peer.stats.rx_rate if peer else 0,
    )
    if peer is not None:
        if peer.native:
            node["native"] = True
        elif peer.meta is not None:
            node["version"] = peer.meta.version
            if peer.meta.tun:
                node["tun_capable"] = True
        if peer.incompatible:
            node["incompatible"] = True
        if peer.unsupported:
            node["unsupported"] = True
    if mesh.is_conflict(name):
        node["conflict"] = True
    rate = _max_rate(entry)
    if rate:
        node["max_rate"] = rate
    if connected and peer is not None:
        children = children_of(mesh, peer, publish=False, budget=budget)
        if children:
            node["children"] = children
    return node


def nested_view(mesh: Mesh, path: list[str]) -> list[dict[str, Any]]:
    """The cached children of a qualified path (deeper than one hop) as the topology shows them."""
    peer = mesh.peers.get(path[0]) if path else None
    if peer is None:
        return []
    level = children_of(mesh, peer, publish=False)
    for name in path[1:]:
        node = next((n for n in level if n["name"] == name), None)
        if node is None:
            return []
        level = node.get("children", [])
    return level
