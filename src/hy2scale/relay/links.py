"""Outbound peer links: one supervised Hysteria 2 client per configured `clients` entry.

A session connects, registers (relay spec §3, dialer role), then serves the ctrl channel and
reports latency until the link dies; the supervisor reconnects with a short capped backoff,
trying the entry's addresses in order (failover).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from hy2scale.hysteria.config import ClientConfig
from hy2scale.hysteria.errors import DialError, Hy2Error
from hy2scale.relay import addresses as A
from hy2scale.relay import wire
from hy2scale.relay.handlers import serve_request
from hy2scale.relay.mesh import Mesh
from hy2scale.relay.meta import our_meta, parse_peer_meta
from hy2scale.relay.peers import Peer
from hy2scale.relay.streamio import close_quietly, read_meta16, read_request, read_str16
from hy2scale.relay.transports import ClientTransport

log = logging.getLogger("hy2scale.relay.links")

DEFAULT_SNI = "hy2scale"
DEFAULT_BANDWIDTH = 125_000_000
NAME_TIMEOUT = 10.0
LATENCY_REPORT_EVERY = 5.0
BACKOFF = (1.0, 2.0, 4.0, 5.0)
CTRL_AFTER_REGISTER = 0.2
MAX_REVERSE_REQUESTS = 512

ClientFactory = Callable[[ClientConfig], Any]
RenameHook = Callable[[str, str, str], Awaitable[None]]


class NotHy2scale(Exception):
    """The remote is a plain Hysteria 2 server (relay spec §3.7)."""


class NameConflict(Exception):
    pass


def default_client_factory(config: ClientConfig) -> Any:
    from hy2scale.hysteria import Hy2Client

    return Hy2Client(config)


def _ca_file(ca: str) -> str:
    """The CA as a file path: entries hold PEM text or a path, the client loads files."""
    if "-----BEGIN" not in ca:
        return ca
    path = Path(tempfile.gettempdir()) / f"hy2scale-ca-{hashlib.sha256(ca.encode()).hexdigest()[:16]}.pem"
    if not path.exists():
        path.write_text(ca)
    return str(path)


def client_config(entry: dict[str, Any], addr: str) -> ClientConfig:
    host, _, portspec = addr.rpartition(":")
    host = host.strip("[]")
    # Only the first port of a spec like "5565,44000-45000" is dialled, as Go peers do.
    first = portspec.split(",")[0].split("-")[0].strip()
    config = ClientConfig(
        server=host,
        ports=int(first),
        password=entry.get("password", ""),
        sni=entry.get("sni") or DEFAULT_SNI,
        insecure=bool(entry.get("insecure")),
        ca=_ca_file(entry.get("ca") or ""),
        max_tx=int(entry.get("max_tx") or DEFAULT_BANDWIDTH),
        max_rx=int(entry.get("max_rx") or DEFAULT_BANDWIDTH),
        connect_timeout=5.0,
        backend=entry.get("quic_backend") or "aioquic",
    )
    if int(entry.get("max_stream_window") or 0) > 0:
        config.stream_window = int(entry["max_stream_window"])
    if int(entry.get("max_conn_window") or 0) > 0:
        config.conn_window = int(entry["max_conn_window"])
    return config


def entry_addrs(entry: dict[str, Any]) -> list[str]:
    addrs = [a for a in (entry.get("addrs") or []) if a]
    primary = entry.get("addr", "")
    if primary and primary not in addrs:
        addrs.insert(0, primary)
    return addrs


class PeerLink:
    def __init__(
        self,
        mesh: Mesh,
        entry: dict[str, Any],
        *,
        factory: ClientFactory = default_client_factory,
        on_rename: RenameHook | None = None,
    ) -> None:
        self.mesh = mesh
        self.entry = dict(entry)
        self.factory = factory
        self.on_rename = on_rename
        self.peer: Peer | None = None
        self.state = "idle"
        self.last_error = ""
        self._task: asyncio.Task[None] | None = None

    @property
    def key(self) -> str:
        return self.entry.get("addr", "")

    @property
    def name(self) -> str:
        return self.entry.get("name", "")

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._supervise())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self.peer is not None:
            self.mesh.remove(self.peer)
            self.peer = None
        self.state = "stopped"

    async def _supervise(self) -> None:
        attempt = 0
        while True:
            for addr in entry_addrs(self.entry):
                started = asyncio.get_running_loop().time()
                try:
                    await self._session(addr)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self.last_error = str(exc) or type(exc).__name__
                    log.info("event=link_failed peer=%s addr=%s error=%s", self.name, addr, self.last_error)
                if asyncio.get_running_loop().time() - started > 30:
                    attempt = 0
            self.state = "waiting"
            await asyncio.sleep(BACKOFF[min(attempt, len(BACKOFF) - 1)])
            attempt += 1

    async def _session(self, addr: str) -> None:
        self.state = "connecting"
        client = self.factory(client_config(self.entry, addr))
        try:
            await client.connect()
            try:
                peer, reg = await self._register(client, addr)
            except NotHy2scale:
                await self._run_native(client, addr)
                return
            await self._run(client, peer, reg)
        finally:
            with contextlib.suppress(Exception):
                await client.close()

    async def _register(self, client: Any, addr: str) -> tuple[Peer, Any]:
        mesh = self.mesh
        try:
            reg = await client.tcp(A.REGISTER)
        except DialError as exc:
            raise NotHy2scale(str(exc)) from exc
        try:
            reg.write(wire.encode_hello(wire.Hello(mesh.exit_node, True, mesh.name)))
            await reg.drain()
            try:
                server_name = await asyncio.wait_for(read_str16(reg, 1024), NAME_TIMEOUT)
            except (EOFError, TimeoutError, Hy2Error, OSError) as exc:
                raise NotHy2scale(f"no register answer: {exc!r}") from exc
            meta = parse_peer_meta(await read_meta16(reg))
            reg.write(wire.encode_meta16(our_meta(mesh.node_id, mesh.tun)))
            await reg.drain()
            name = server_name or self.name
            if not A.routable_name(name):
                raise NameConflict(f"remote name {name!r} cannot be routed (contains '/' or '_')")
            self._check_conflict(name)
            if name != self.name:
                await self._rename(name)
            peer = Peer(
                name=name,
                direction="outbound",
                meta=meta,
                transport=ClientTransport(client),
                addr=addr,
            )
            if not mesh.install(peer):
                raise NameConflict(f"peer {name!r} is already connected with another node id")
            return peer, reg
        except BaseException:
            await close_quietly(reg)
            raise

    def _check_conflict(self, name: str) -> None:
        mesh = self.mesh
        clash = name in (mesh.name, mesh.node_id) or any(
            c.get("name") == name and c.get("addr") != self.key for c in mesh.clients
        )
        if clash:
            mesh.conflicts[self.key] = name
            raise NameConflict(f"remote name {name!r} conflicts with this node or another client")
        mesh.conflicts.pop(self.key, None)

    async def _rename(self, name: str) -> None:
        old = self.name
        log.info("event=peer_renamed old=%s new=%s addr=%s", old, name, self.key)
        self.entry["name"] = name
        if self.on_rename is not None:
            await self.on_rename(self.key, old, name)

    async def _run(self, client: Any, peer: Peer, reg: Any) -> None:
        self.peer = peer
        self.state = "connected"
        self.last_error = ""
        tasks = [
            asyncio.ensure_future(self._serve_ctrl(client, peer)),
            asyncio.ensure_future(self._report_latency(client, peer)),
            asyncio.ensure_future(reg.read(1)),
            asyncio.ensure_future(peer.closed.wait()),
        ]
        if getattr(client, "closed", None) is not None:
            tasks.append(asyncio.ensure_future(client.closed.wait()))
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.mesh.remove(peer)
            self.peer = None
            self.state = "disconnected"
            await close_quietly(reg)

    async def _serve_ctrl(self, client: Any, peer: Peer) -> None:
        # A Go server binds ctrl by name only if our register entry is already installed, which
        # happens after it has read our meta; give that a moment instead of racing it.
        await asyncio.sleep(CTRL_AFTER_REGISTER)
        ctrl = await client.tcp(A.CTRL)
        try:
            ctrl.write(wire.encode_str16(self.mesh.name))
            await ctrl.drain()
            # Bounded: a server flooding requests waits on its own ctrl stream instead of growing tasks.
            slots = asyncio.Semaphore(MAX_REVERSE_REQUESTS)
            while True:
                req_id, addr = await read_request(ctrl)
                await slots.acquire()
                task = self.mesh.spawn(
                    serve_request(self.mesh, peer, req_id, addr, client.tcp), "ctrl_request"
                )
                task.add_done_callback(lambda _t: slots.release())
        finally:
            await close_quietly(ctrl)

    async def _report_latency(self, client: Any, peer: Peer) -> None:
        while True:
            await asyncio.sleep(LATENCY_REPORT_EVERY)
            ms = peer.stats.latency_ms
            if ms <= 0:
                continue
            with contextlib.suppress(Hy2Error, OSError, ConnectionError):
                stream = await client.tcp(A.LATENCY)
                stream.write(wire.encode_latency(self.mesh.name, ms))
                await stream.drain()
                await close_quietly(stream)

    async def _run_native(self, client: Any, addr: str) -> None:
        peer = Peer(
            name=self.name,
            direction="outbound",
            native=True,
            transport=ClientTransport(client),
            addr=addr,
        )
        if not self.mesh.install(peer):
            raise NameConflict(f"peer {self.name!r} is already connected")
        self.peer = peer
        self.state = "native"
        log.info("event=native_peer peer=%s addr=%s", self.name, addr)
        waits = [asyncio.ensure_future(peer.closed.wait())]
        if getattr(client, "closed", None) is not None:
            waits.append(asyncio.ensure_future(client.closed.wait()))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in waits:
                t.cancel()
            await asyncio.gather(*waits, return_exceptions=True)
            self.mesh.remove(peer)
            self.peer = None
            self.state = "disconnected"
