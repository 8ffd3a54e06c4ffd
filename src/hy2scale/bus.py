"""A tiny in-process change bus: the API publishes a topic after a store commit, the owning part reloads."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable

log = logging.getLogger("hy2scale.bus")

Listener = Callable[[str], Awaitable[None] | None]

# Topics published after a committed store change. A part subscribes to the ones it owns.
TOPICS = frozenset(
    {
        "node",
        "server",
        "clients",
        "peer_flags",
        "users",
        "proxies",
        "shadowsocks",
        "l2tp",
        "ikev2",
        "wireguard",
        "rules",
        "tun_mode",
        "settings",
        "tls",
        "graph_layout",
        "restore",
    }
)


class ChangeBus:
    def __init__(self) -> None:
        self._listeners: dict[str, list[Listener]] = defaultdict(list)

    def subscribe(self, topic: str, listener: Listener) -> None:
        if topic not in TOPICS:
            raise ValueError(f"unknown topic {topic!r}")
        self._listeners[topic].append(listener)

    async def publish(self, topic: str) -> None:
        """Run every listener of ``topic``; one failing listener is logged and does not stop the others."""
        if topic not in TOPICS:
            raise ValueError(f"unknown topic {topic!r}")
        for listener in list(self._listeners[topic]):
            try:
                result = listener(topic)
                if inspect.isawaitable(result):
                    await result
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception(
                    "event=reload_failed topic=%s listener=%s",
                    topic,
                    getattr(listener, "__qualname__", listener),
                )
