"""`ServiceManager`: starts every end-user service from the store and hot-reloads it on bus topics.

One listener per configured service. A bind failure (port in use, bad cert) disables only that
service and is reported by ``status()``; open connections survive a reload of their listener.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from hy2scale.services.base import TcpService
from hy2scale.services.common import server_tls
from hy2scale.services.http_proxy import HttpProxyService
from hy2scale.services.shadowsocks import ShadowsocksService
from hy2scale.services.socks5 import Socks5Service

log = logging.getLogger("hy2scale.services")

SS_ID = "ss"
TOPICS = ("proxies", "shadowsocks", "users", "tls")


def _service_class(protocol: str) -> type[TcpService]:
    if protocol == "http":
        return HttpProxyService
    if protocol == "ss":
        return ShadowsocksService
    return Socks5Service


class ServiceManager:
    def __init__(self, node: Any) -> None:
        self.node = node
        self._running: dict[str, TcpService] = {}
        self._configs: dict[str, dict[str, Any]] = {}
        self._errors: dict[str, str] = {}
        self._lock = asyncio.Lock()
        self._subscribed = False

    def _desired(self) -> dict[str, dict[str, Any]]:
        """Every enabled service keyed by id, in the shape its service class reads."""
        store = self.node.store
        wanted: dict[str, dict[str, Any]] = {}
        for proxy in store.proxies.list():
            if proxy.get("enabled", True) and proxy.get("listen"):
                protocol = proxy.get("protocol") or "socks5"
                wanted[str(proxy["id"])] = {**proxy, "protocol": "http" if protocol == "http" else "socks5"}
        ss = store.sections.get("shadowsocks")
        if ss.get("enabled") and ss.get("listen"):
            wanted[SS_ID] = {**ss, "id": SS_ID, "protocol": "ss"}
        return wanted

    async def start(self) -> None:
        if not self._subscribed:
            for topic in TOPICS:
                self.node.bus.subscribe(topic, self._on_change)
            self._subscribed = True
        await self.reload()

    async def stop(self) -> None:
        async with self._lock:
            for service_id in list(self._running):
                await self._stop_one(service_id, drop_connections=True)
            self._configs.clear()

    async def _on_change(self, topic: str) -> None:
        await self.reload(restart_tls=topic == "tls")

    async def reload(self, restart_tls: bool = False) -> None:
        """Apply the store: stop what went away or changed, start what is new or changed."""
        async with self._lock:
            wanted = self._desired()
            for service_id in list(self._configs):
                old = self._configs[service_id]
                new = wanted.get(service_id)
                if new != old or (restart_tls and old.get("tls_cert")):
                    await self._stop_one(service_id)
            for service_id, config in wanted.items():
                if service_id not in self._configs:
                    await self._start_one(service_id, config)
            for service_id in list(self._errors):
                if service_id not in wanted:
                    del self._errors[service_id]
            self._refresh_keys()

    def _refresh_keys(self) -> None:
        for service in self._running.values():
            refresh = getattr(service, "refresh_users", None)
            if refresh is not None:
                refresh()

    async def _start_one(self, service_id: str, config: dict[str, Any]) -> None:
        self._configs[service_id] = config
        try:
            tls = server_tls(self.node, str(config.get("tls_cert") or ""))
            service = _service_class(config["protocol"])(self.node, config, tls)
            await service.start()
        except (OSError, ValueError) as exc:
            self._errors[service_id] = f"{type(exc).__name__}: {exc}"
            log.warning(
                "event=service_start_failed service=%s listen=%s error=%s",
                service_id,
                config.get("listen"),
                exc,
            )
            return
        self._errors.pop(service_id, None)
        self._running[service_id] = service

    async def _stop_one(self, service_id: str, drop_connections: bool = False) -> None:
        self._configs.pop(service_id, None)
        service = self._running.pop(service_id, None)
        if service is not None:
            await service.stop(drop_connections=drop_connections)

    def status(self) -> dict[str, dict[str, Any]]:
        """`{id: {running, error}}` for every enabled service."""
        return {
            service_id: {"running": service_id in self._running, "error": self._errors.get(service_id, "")}
            for service_id in self._configs
        }

    def service(self, service_id: str) -> TcpService | None:
        return self._running.get(service_id)
