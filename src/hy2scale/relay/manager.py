"""RelayManager: the relay part as the node sees it. Binds the mesh to the store and the
ChangeBus (topics clients, peer_flags, node, server) and runs links, prober, discovery."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from typing import Any

from hy2scale.relay import discovery
from hy2scale.relay.addresses import API
from hy2scale.relay.api_tunnel import serve_asgi
from hy2scale.relay.exits import ExitDialer
from hy2scale.relay.hy2server import NodeHy2Server
from hy2scale.relay.inbound import InboundHandler
from hy2scale.relay.links import ClientFactory, PeerLink, default_client_factory
from hy2scale.relay.mesh import Mesh, RelayError
from hy2scale.relay.paths import PathError, check_path, split_path
from hy2scale.relay.prober import run_prober, run_rate_ticker
from hy2scale.streams import ByteStream

log = logging.getLogger("hy2scale.relay")

DISCOVERY_FIRST = 2.0
DISCOVERY_EVERY = 7.0


class RelayManager:
    def __init__(
        self, node: Any, *, client_factory: ClientFactory | None = None, serve_hy2: bool = False
    ) -> None:
        self.node = node
        self.store = node.store
        section = self.store.sections.get("node")
        node_id = section.get("node_id") or ""
        self.mesh = Mesh(section.get("name") or node_id, node_id, exit_node=bool(section.get("exit_node")))
        self.exits = ExitDialer(self.mesh)
        self._auth: dict[str, Any] = {}
        self._load_auth()
        self.inbound = InboundHandler(
            self.mesh, self.exits, lambda: self._auth, lambda: getattr(self.node, "accounts", None)
        )
        self._factory = client_factory or default_client_factory
        self.mesh.api_handler = self._serve_api
        # A peer that just came up may already have sub-peers worth showing.
        self.mesh.on_peer_up.append(lambda _peer: self._kick.set())
        # The node's hy2 server runs the relay's inbound handler; node.py asks for it.
        self.hy2 = NodeHy2Server(node, self.inbound) if serve_hy2 else None
        self.links: dict[str, PeerLink] = {}
        self._tasks: list[asyncio.Task[Any]] = []
        self._kick = asyncio.Event()
        self._blocked: set[str] = set()
        self._started = False

    # ---- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        self._load_flags()
        self._load_limits()
        if self.hy2 is not None:
            await self.hy2.start()
        bus = getattr(self.node, "bus", None)
        if bus is not None:
            bus.subscribe("clients", self._on_clients)
            bus.subscribe("peer_flags", self._on_peer_flags)
            bus.subscribe("node", self._on_node)
            bus.subscribe("server", self._on_server)
            bus.subscribe("restore", self._on_restore)
            bus.subscribe("settings", self._on_settings)
        self._tasks = [
            asyncio.ensure_future(run_prober(self.mesh)),
            asyncio.ensure_future(run_rate_ticker(self.mesh)),
            asyncio.ensure_future(self._discovery_loop()),
        ]
        await self._on_clients("clients")
        log.info("event=relay_started name=%s node_id=%s", self.mesh.name, self.mesh.node_id)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await asyncio.gather(*(link.stop() for link in self.links.values()), return_exceptions=True)
        self.links.clear()
        await self.mesh.close()
        if self.hy2 is not None:
            await self.hy2.stop()
        self._started = False

    # ---- store → live state --------------------------------------------------------------

    def _load_auth(self) -> None:
        server = self.store.sections.get("server")
        node = self.store.sections.get("node")
        self._auth = {
            "password": server.get("password", ""),
            "hy2_user_auth": bool(node.get("hy2_user_auth")),
        }

    def _load_limits(self) -> None:
        self.mesh.limits = discovery.limits_from(self.store.sections.get("ui"), dict(os.environ))

    async def _on_settings(self, _topic: str) -> None:
        self._load_limits()

    def _load_flags(self) -> None:
        self.mesh.flags = {
            f["path"]: {"nested": bool(f.get("nested")), "disabled": bool(f.get("disabled"))}
            for f in self.store.peer_flags.list()
        }

    async def _on_clients(self, _topic: str) -> None:
        entries = self.store.clients.list()
        self.mesh.clients = entries
        wanted = {e["addr"]: e for e in entries if e.get("addr")}
        self.mesh.blocked = {
            e["name"] for e in entries if e.get("disabled") and e.get("name")
        } | self._blocked
        for name in self.mesh.blocked:
            self.mesh.kick(name)
        for key in list(self.links):
            link = self.links[key]
            entry = wanted.get(key)
            if entry is None or entry.get("disabled") or _link_fields(entry) != _link_fields(link.entry):
                await link.stop()
                del self.links[key]
        for key, entry in wanted.items():
            if key not in self.links and not entry.get("disabled"):
                link = PeerLink(self.mesh, entry, factory=self._factory, on_rename=self._rename_client)
                self.links[key] = link
                link.start()

    def set_blocked(self, name: str, blocked: bool) -> None:
        """Refuse (or accept again) registrations of an inbound-only peer; in memory only, as the
        original does for names that are not configured clients."""
        if blocked:
            self._blocked.add(name)
            self.mesh.blocked.add(name)
            self.mesh.kick(name)
        else:
            self._blocked.discard(name)
            if not any(c.get("name") == name and c.get("disabled") for c in self.mesh.clients):
                self.mesh.blocked.discard(name)

    async def _on_peer_flags(self, _topic: str) -> None:
        self._load_flags()
        self._kick.set()

    async def _on_node(self, _topic: str) -> None:
        section = self.store.sections.get("node")
        node_id = section.get("node_id") or self.mesh.node_id
        name = section.get("name") or node_id
        self._load_auth()
        self.mesh.exit_node = bool(section.get("exit_node"))
        if (name, node_id) != (self.mesh.name, self.mesh.node_id):
            self.mesh.name, self.mesh.node_id = name, node_id
            # Peers learn our identity only when they (re)register: reconnect every link.
            for link in self.links.values():
                await link.stop()
                link.start()
            if self.hy2 is not None:
                # Inbound peers only learn a new identity by registering again.
                await self.hy2.stop()
                await self.hy2.start()

    async def _on_restore(self, topic: str) -> None:
        """A restored backup replaces every section and collection: reload all of them."""
        self._load_limits()
        await self._on_node(topic)
        await self._on_server(topic)
        await self._on_peer_flags(topic)
        await self._on_clients(topic)

    async def _on_server(self, _topic: str) -> None:
        self._load_auth()
        if self.hy2 is not None:
            await self.hy2.reload()

    async def _rename_client(self, addr: str, old: str, new: str) -> None:
        """The remote reported another name (§3.5): follow it in the store and the path flags."""
        with contextlib.suppress(Exception):
            self.store.clients.update(old, {"name": new})
        for flag in self.store.peer_flags.list():
            path = flag["path"]
            if path == old or path.startswith(old + "/"):
                with contextlib.suppress(Exception):
                    self.store.peer_flags.update(path, {"path": new + path[len(old) :]})
        topics = [
            t for t, repo in _EXIT_USERS.items() if _rename_exit_refs(getattr(self.store, repo), old, new)
        ]
        self.mesh.clients = self.store.clients.list()
        self._load_flags()
        bus = getattr(self.node, "bus", None)
        for topic in topics if bus is not None else ():
            await bus.publish(topic)

    async def _discovery_loop(self) -> None:
        await asyncio.sleep(DISCOVERY_FIRST)
        while True:
            with contextlib.suppress(Exception):
                await discovery.refresh(self.mesh)
            self._kick.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kick.wait(), DISCOVERY_EVERY)

    def refresh_discovery(self) -> None:
        """Refetch nested peer lists now (after a nested toggle)."""
        self._kick.set()

    # ---- remote admin tunnel (`_relay_api_`) --------------------------------------------

    async def _serve_api(self, stream: ByteStream, auth_id: str) -> None:
        app = getattr(self.node, "app", None)
        if app is None:
            stream.close()
            return
        await serve_asgi(app, stream, auth_id)

    async def open_api(self, path: str) -> ByteStream:
        """A stream to the HTTP API of the node at ``path`` (for the /remote/{chain} UI proxy);
        raises ``RelayError`` with the reason."""
        try:
            hops = check_path(
                path,
                self_name=self.mesh.name,
                self_id=self.mesh.node_id,
                flags=self.mesh.flags,
                disabled_clients=self.mesh.blocked,
            )
        except PathError as exc:
            raise RelayError(str(exc)) from exc
        if not hops:
            raise RelayError("the remote UI proxy needs a peer path")
        last = self.mesh.peers.get(hops[-1])
        if last is not None and last.native and len(hops) == 1:
            raise RelayError(f"peer {hops[-1]!r} is a plain Hysteria 2 server without a hy2scale UI")
        return await self.mesh.dial_hops(hops, API)

    # ---- views for the API -------------------------------------------------------------

    def topology(self) -> list[dict[str, Any]]:
        server = self.store.sections.get("server")
        listen = server.get("listen", "") if server.get("enabled", True) else ""
        return discovery.topology(self.mesh, listen, server_disabled=not listen)

    def peers(self) -> list[dict[str, Any]]:
        return [
            {
                **p.info(),
                "connected": p.name not in self.mesh.blocked,
                "nested": self.mesh.flag(p.name, "nested"),
                "disabled": self.mesh.flag(p.name, "disabled"),
            }
            for p in self.mesh.peers.primary.values()
        ]

    def connected(self, name: str) -> bool:
        peer = self.mesh.peers.get(name)
        return peer is not None and name not in self.mesh.blocked

    def stats(self) -> dict[str, Any]:
        t = self.mesh.totals
        return {
            "tx_bytes": t.tx,
            "rx_bytes": t.rx,
            "tx_rate": t.tx_rate,
            "rx_rate": t.rx_rate,
            "conns": t.conns,
            "exit_clients": sum(1 for p in self.mesh.peers.primary.values() if p.direction == "inbound"),
        }

    def peer_health(self) -> list[dict[str, Any]]:
        return [
            {
                "name": p.name,
                "direction": p.direction,
                "latency_ms": p.stats.latency_ms,
                "ping_ok": p.stats.ping_ok,
                "ping_fail": p.stats.ping_fail,
                "fail_count": p.stats.fail_count,
                "tx": p.stats.tx,
                "rx": p.stats.rx,
                "history": list(p.stats.history),
            }
            for p in self.mesh.peers.all()
        ]

    def link_status(self) -> list[dict[str, Any]]:
        """Outbound links: configured name, address key, state and the last connect error."""
        return [
            {"name": link.name, "addr": key, "state": link.state, "last_error": link.last_error}
            for key, link in self.links.items()
        ]

    def active_paths(self) -> dict[str, str]:
        return dict(self.exits.active)

    async def nested_peers(self, path: str) -> list[dict[str, Any]] | None:
        """Peers of ``path``: asked live for a direct peer, from the discovery cache deeper down;
        ``None`` when the direct peer is not connected."""
        hops = split_path(path, self.mesh.name, self.mesh.node_id)
        if not hops:
            return []
        if len(hops) == 1:
            peer = self.mesh.peers.get(hops[0])
            if peer is None:
                return None
            if not self.mesh.usable(peer) or peer.native:
                return []
            return await discovery.fetch_peer_list(self.mesh, hops[0])
        return discovery.nested_view(self.mesh, hops)


# Collections whose entries name exits (exit_via / exit_paths), by the bus topic that reloads them.
_EXIT_USERS = {"users": "users", "proxies": "proxies", "rules": "rules", "wireguard": "wg_peers"}


def _rename_path(path: str, old: str, new: str) -> str:
    """Replace the hop ``old`` by ``new`` in ``a/b/c`` (whole segments only, unlike the original)."""
    return "/".join(new if hop == old else hop for hop in path.split("/"))


def _rename_exit_refs(repo: Any, old: str, new: str) -> bool:
    changed = False
    for entity in repo.list() if repo is not None else ():
        via = entity.get("exit_via") or ""
        paths = list(entity.get("exit_paths") or [])
        new_via = _rename_path(via, old, new) if via else via
        new_paths = [_rename_path(p, old, new) for p in paths]
        if new_via != via or new_paths != paths:
            with contextlib.suppress(Exception):
                repo.update(entity[repo.key], {"exit_via": new_via, "exit_paths": new_paths})
                changed = True
    return changed


def _link_fields(entry: dict[str, Any]) -> dict[str, Any]:
    """What a running link depends on; a change to any of these restarts it."""
    keys = ("addr", "addrs", "password", "sni", "insecure", "ca", "max_tx", "max_rx")
    return {k: entry.get(k) for k in keys}
