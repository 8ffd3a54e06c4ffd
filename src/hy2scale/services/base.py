"""A TCP listener service: bind, accept, hand each client to ``handle``, track live connections."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from typing import Any

from hy2scale.services.common import peer_ip
from hy2scale.services.exits import DirectExits, Exits
from hy2scale.streams import CHUNK, AsyncioByteStream, ByteStream

log = logging.getLogger("hy2scale.services")


def parse_listen(listen: str) -> tuple[str, int]:
    """`host:port`, `[v6]:port` or `:port` (all interfaces)."""
    host, sep, port = listen.strip().rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"invalid listen address {listen!r}")
    host = host.strip("[]")
    return (host or "0.0.0.0"), int(port)


class TcpService:
    """Subclasses set ``protocol`` and implement ``handle(stream, ip)``."""

    protocol = "tcp"

    def __init__(self, node: Any, config: dict[str, Any], tls: ssl.SSLContext | None = None) -> None:
        self.node = node
        self.config = config
        self.tls = tls
        self.accounts = node.accounts
        self.exits: Exits = getattr(node, "exits", None) or DirectExits()
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.Task[None]] = set()

    @property
    def name(self) -> str:
        return str(self.config.get("id") or self.protocol)

    def connection_count(self) -> int:
        """Client connections still being handled (every one must end when its sockets close)."""
        return len(self._clients)

    def bound_port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    async def start(self) -> None:
        """Bind now; an ``OSError`` (port in use) propagates so the manager can report it."""
        host, port = parse_listen(str(self.config.get("listen", "")))
        self._server = await asyncio.start_server(
            self._accept, host, port, ssl=self.tls, limit=CHUNK * 4, reuse_address=True
        )
        log.info(
            "event=service_started service=%s protocol=%s listen=%s:%d tls=%s",
            self.name,
            self.protocol,
            host,
            port,
            self.tls is not None,
        )

    async def stop(self, drop_connections: bool = False) -> None:
        """Close the listener; open connections keep running unless ``drop_connections``."""
        if self._server is not None:
            self._server.close()
            self._server = None
        if drop_connections:
            for task in list(self._clients):
                task.cancel()
            await asyncio.gather(*self._clients, return_exceptions=True)
        log.info("event=service_stopped service=%s", self.name)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._clients.add(task)
        stream = AsyncioByteStream(reader, writer)
        try:
            await self.handle(stream, peer_ip(stream))
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError, ssl.SSLError):
            pass
        except ValueError as exc:  # malformed client input: one line, no traceback to flood the log
            log.debug("event=bad_request service=%s error=%s", self.name, exc)
        except Exception:
            log.exception("event=connection_failed service=%s", self.name)
        finally:
            self._clients.discard(task)
            stream.close()
            with contextlib.suppress(Exception):
                await stream.wait_closed()

    async def handle(self, stream: ByteStream, ip: str) -> None:
        raise NotImplementedError
