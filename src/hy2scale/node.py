"""The composition root: builds every part of a node, starts and stops them on one asyncio loop.

Each part gets its own ``_start_<part>`` / ``_stop_<part>`` pair; ``start`` calls them in dependency order
and ``stop`` in reverse, so adding a part is a few clearly separated lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import signal
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from .adopt_original import adopt_original_data_dir
from .bus import ChangeBus
from .certs import CertStore, cert_user
from .firstrun import ensure_first_run
from .store import Store

log = logging.getLogger("hy2scale.node")

DEFAULT_API_LISTEN = "0.0.0.0:5565"
DEFAULT_BASE_PATH = "/scale"
DEFAULT_HY2_LISTEN = "0.0.0.0:5565"
API_START_TIMEOUT_S = 15.0


class NodeError(Exception):
    """The node cannot start (bad option, port in use...); the message is one line for the operator."""


class PortInUse(NodeError):
    pass


@dataclass(frozen=True)
class NodeOptions:
    """Command-line overrides; None means "use the stored value, else the default"."""

    api_listen: str | None = None
    hy2_listen: str | None = None
    base_path: str | None = None


@dataclass(frozen=True)
class Settings:
    """The effective options of this run (flags beat stored values beat defaults)."""

    data_dir: Path
    api_host: str
    api_port: int
    base_path: str
    hy2_listen: str

    @property
    def api_listen(self) -> str:
        return join_host_port(self.api_host, self.api_port)


def split_host_port(text: str) -> tuple[str, int]:
    """``host:port`` / ``[v6]:port`` → (host, port); ValueError with a one-line reason otherwise."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"invalid address {text!r} (want host:port)")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host or "0.0.0.0", int(port)


def join_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def normalize_base_path(path: str) -> str:
    """``scale/`` → ``/scale``; ``/`` → ``""`` (serve at the root)."""
    path = path.strip().rstrip("/")
    return path if not path or path.startswith("/") else "/" + path


def primary_listen(spec: str) -> str:
    """``host:5565,6000`` / ``host:20000-30000`` → ``host:5565``: only the first port is bound."""
    return spec.split(",")[0].split("-")[0]


def check_udp_free(listen: str, what: str) -> None:
    """Fail early and clearly when a UDP port is taken (node-core.md §1.2 step 8)."""
    host, port = split_host_port(primary_listen(listen))
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as e:
            where = f"{join_host_port(host, port)}/udp"
            if e.errno == errno.EADDRINUSE:
                raise PortInUse(f"{what} port {where} is already in use") from e
            raise NodeError(f"cannot listen on {where}: {e.strerror}") from e


def resolve_settings(data_dir: Path, options: NodeOptions, store: Store) -> Settings:
    ui = store.sections.get("ui")
    server = store.sections.get("server")
    api_listen = options.api_listen or ui["listen"] or DEFAULT_API_LISTEN
    base_path = options.base_path if options.base_path is not None else (ui["base_path"] or DEFAULT_BASE_PATH)
    hy2_listen = options.hy2_listen or server["listen"] or DEFAULT_HY2_LISTEN
    try:
        api_host, api_port = split_host_port(api_listen)
        split_host_port(primary_listen(hy2_listen))
    except ValueError as e:
        raise NodeError(str(e)) from e
    return Settings(data_dir, api_host, api_port, normalize_base_path(base_path), hy2_listen)


def bind_tcp(host: str, port: int) -> socket.socket:
    """A listening TCP socket, bound before anything is served so a busy port fails early and clearly."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=1024)
    except OSError as e:
        where = f"{join_host_port(host, port)}/tcp"
        if e.errno == errno.EADDRINUSE:
            raise PortInUse(f"API port {where} is already in use") from e
        raise NodeError(f"cannot listen on {where}: {e.strerror}") from e


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside our loop: the node owns the signals, so uvicorn must not install handlers."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Node:
    def __init__(self, data_dir: str | Path, options: NodeOptions | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.options = options or NodeOptions()
        self.store = Store.open(self.data_dir)
        try:
            self.certs = CertStore(self.data_dir / "tls", in_use=self.cert_in_use)
            adopt_original_data_dir(self.store, self.certs, self.data_dir)
            ensure_first_run(self.store, self.certs)
            self.settings = resolve_settings(self.data_dir, self.options, self.store)
        except BaseException:
            self.store.close()
            raise
        self.bus = ChangeBus()
        self.started_at = time.time()
        # Parts owned by other modules; each is built and started by its own _start_* method.
        self.hy2: Any = None
        self.relay: Any = None
        self.exits: Any = None
        self.accounts: Any = None
        self.services: Any = None
        self.app: Any = None
        self._api_server: _EmbeddedServer | None = None
        self._api_task: asyncio.Task[None] | None = None
        self._api_sock: socket.socket | None = None
        self._started: list[str] = []

    @property
    def node_id(self) -> str:
        return self.store.sections.get("node")["node_id"]

    def cert_in_use(self, cert_id: str) -> str | None:
        """Who uses a certificate, so the TLS store refuses to delete it from under a service."""
        return cert_user(self.store, self.certs.dir, cert_id)

    # -- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start every part; if one fails, the ones already started are stopped again."""
        # Busy ports fail here, before any part has started (node-core.md §1.2).
        if self.store.sections.get("server").get("enabled", True):
            check_udp_free(self.settings.hy2_listen, "hy2 server")
        self._api_sock = bind_tcp(self.settings.api_host, self.settings.api_port)
        # A part is recorded before it starts, so one that fails half-way is still stopped.
        try:
            self._started.append("accounts")
            await self._start_accounts()
            self._started.append("relay")
            await self._start_relay()
            self._started.append("services")
            await self._start_services()
            self._started.append("api")
            await self._start_api()
        except BaseException:
            await self.stop()
            if self._api_sock is not None:
                self._api_sock.close()
                self._api_sock = None
            raise
        log.info(
            "event=node_started node_id=%s api=%s base_path=%s hy2=%s",
            self.node_id,
            self.settings.api_listen,
            self.settings.base_path or "/",
            self.settings.hy2_listen,
        )

    async def stop(self) -> None:
        if not self._started:
            return
        stoppers = {
            "api": self._stop_api,
            "services": self._stop_services,
            "relay": self._stop_relay,
            "accounts": self._stop_accounts,
        }
        while self._started:
            part = self._started.pop()
            try:
                await stoppers[part]()
            except Exception:
                log.exception("event=stop_failed part=%s", part)
        log.info("event=node_stopped")

    async def run_until_signal(self) -> None:
        """Start, serve until SIGTERM/SIGINT (or until the API server dies), then stop cleanly."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await self.start()
            waiters = [asyncio.ensure_future(stop.wait())]
            if self._api_task is not None:
                waiters.append(self._api_task)
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            waiters[0].cancel()
            log.info("event=node_stopping reason=%s", "signal" if stop.is_set() else "api_server_exited")
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
            await self.stop()

    def close(self) -> None:
        self.store.close()

    # -- relay mesh and the hy2 server it serves ---------------------------------------------------

    async def _start_relay(self) -> None:
        from .relay.manager import RelayManager

        self.relay = RelayManager(self, serve_hy2=True)
        self.exits = self.relay.exits
        await self.relay.start()
        self.hy2 = self.relay.hy2

    async def _stop_relay(self) -> None:
        if self.relay is not None:
            await self.relay.stop()

    # -- accounts (before the relay: its hy2 inbound authenticates users) and end-user services ----

    async def _start_accounts(self) -> None:
        from .accounts import Accounts

        self.accounts = Accounts(self)
        await self.accounts.start()

    async def _stop_accounts(self) -> None:
        if self.accounts is not None:
            await self.accounts.stop()  # flushes the traffic counters

    async def _start_services(self) -> None:
        from .services.manager import ServiceManager

        self.services = ServiceManager(self)
        await self.services.start()

    async def _stop_services(self) -> None:
        if self.services is not None:
            await self.services.stop()

    # -- API server --------------------------------------------------------------------------------

    async def _start_api(self) -> None:
        from .api.app import create_app  # the API imports the node's types, not the other way round

        sock, self._api_sock = self._api_sock, None
        if sock is None:
            sock = bind_tcp(self.settings.api_host, self.settings.api_port)
        try:
            self.app = create_app(self)
            config = uvicorn.Config(
                self.app,
                log_config=None,
                access_log=False,
                lifespan="on",
                timeout_graceful_shutdown=5,
            )
            server = _EmbeddedServer(config)
            self._api_server = server
            self._api_task = asyncio.create_task(server.serve(sockets=[sock]), name="api-server")
            deadline = time.monotonic() + API_START_TIMEOUT_S
            while not server.started:
                if self._api_task.done():
                    raise NodeError(f"API server failed to start: {self._api_task.exception()!r}")
                if time.monotonic() > deadline:
                    raise NodeError("API server did not start in time")
                await asyncio.sleep(0.01)
        except BaseException:
            await self._stop_api()
            sock.close()
            raise

    async def _stop_api(self) -> None:
        if self._api_sock is not None:  # bound, but the server never took it over
            self._api_sock.close()
            self._api_sock = None
        server, task = self._api_server, self._api_task
        self._api_server = self._api_task = None
        if server is None or task is None:
            return
        server.should_exit = True
        try:
            await asyncio.wait_for(task, timeout=10)
        except (TimeoutError, SystemExit):
            task.cancel()
