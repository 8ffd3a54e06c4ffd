"""Device sessions: live connections grouped by `username|ip|protocol`, kick and the 60 s block."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("hy2scale.accounts")

BLOCK_SECONDS = 60.0

# Called with (tx, rx) of every chunk, so accounting and limits are live.
Meter = Callable[[int, int], None]


def device_key(username: str, ip: str, protocol: str) -> str:
    return f"{username}|{ip}|{protocol}"


class Connection:
    """One proxied connection of a device. Services count bytes on it and stop when ``closed`` is set."""

    _ids = itertools.count(1)

    def __init__(self, device: Device | None, user_id: str, meter: Meter | None) -> None:
        self.id = next(self._ids)
        self.device = device
        self.user_id = user_id
        self._meter = meter
        self.closed = asyncio.Event()
        self._callbacks: list[Callable[[], Any]] = []

    def add_tx(self, n: int) -> None:
        """Bytes from the client towards the target (upload)."""
        if self.device is not None:
            self.device.tx += n
        if self._meter is not None:
            self._meter(n, 0)

    def add_rx(self, n: int) -> None:
        """Bytes from the target back to the client (download)."""
        if self.device is not None:
            self.device.rx += n
        if self._meter is not None:
            self._meter(0, n)

    def add_close_callback(self, callback: Callable[[], Any]) -> None:
        """Run ``callback`` when the connection is cut (kick, limit); at once if it already is."""
        if self.closed.is_set():
            callback()
        else:
            self._callbacks.append(callback)

    def close(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        if self.device is not None:
            self.device.remove(self)
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()


class Device:
    def __init__(self, registry: Sessions, key: str, username: str, ip: str, protocol: str, now: float):
        self.registry = registry
        self.key = key
        self.username = username
        self.remote_ip = ip
        self.protocol = protocol
        self.connect_at = now
        self.tx = 0
        self.rx = 0
        self.connections: dict[int, Connection] = {}

    def remove(self, conn: Connection) -> None:
        self.connections.pop(conn.id, None)
        if not self.connections:
            self.registry.forget(self)

    def as_dict(self, now: float) -> dict[str, Any]:
        return {
            "key": self.key,
            "username": self.username,
            "remote_ip": self.remote_ip,
            "protocol": self.protocol,
            "connect_at": int(self.connect_at),
            "duration": max(0, int(now - self.connect_at)),
            "conn_count": len(self.connections),
            "tx_bytes": self.tx,
            "rx_bytes": self.rx,
        }


class Sessions:
    def __init__(self, clock: Callable[[], float] = time.time, block_seconds: float = BLOCK_SECONDS) -> None:
        self._clock = clock
        self._block_seconds = block_seconds
        self._devices: dict[str, Device] = {}
        self._blocked: dict[str, float] = {}

    def is_blocked(self, key: str) -> bool:
        until = self._blocked.get(key)
        if until is None:
            return False
        if self._clock() >= until:
            del self._blocked[key]
            return False
        return True

    def purge_blocks(self) -> None:
        """Forget expired blocks of devices that never came back."""
        now = self._clock()
        self._blocked = {k: until for k, until in self._blocked.items() if until > now}

    def open(self, username: str, ip: str, protocol: str, user_id: str, meter: Meter | None) -> Connection:
        """A new connection; a blocked device gets one that is already closed (the caller must not dial)."""
        key = device_key(username, ip, protocol)
        if self.is_blocked(key):
            conn = Connection(None, user_id, None)
            conn.close()
            return conn
        device = self._devices.get(key)
        if device is None:
            device = Device(self, key, username, ip, protocol, self._clock())
            self._devices[key] = device
        conn = Connection(device, user_id, meter)
        device.connections[conn.id] = conn
        return conn

    def forget(self, device: Device) -> None:
        if self._devices.get(device.key) is device:
            del self._devices[device.key]

    def list(self) -> list[dict[str, Any]]:
        now = self._clock()
        return [d.as_dict(now) for d in self._devices.values()]

    def connections(self) -> list[Connection]:
        return [c for d in self._devices.values() for c in d.connections.values()]

    def kick(self, key: str) -> bool:
        """Close every connection of the device and refuse it for the block period."""
        device = self._devices.get(key)
        if device is None:
            return False
        self._blocked[key] = self._clock() + self._block_seconds
        for conn in list(device.connections.values()):
            conn.close()
        self.forget(device)
        log.info("event=device_kicked key=%s block_s=%d", key, self._block_seconds)
        return True

    def kick_user(self, username: str) -> int:
        keys = [k for k, d in self._devices.items() if d.username == username]
        for key in keys:
            self.kick(key)
        return len(keys)

    def close_user(self, user_id: str) -> int:
        """Cut every connection of a user without blocking (limit reached, expired, disabled, deleted)."""
        conns = [c for c in self.connections() if c.user_id == user_id]
        for conn in conns:
            conn.close()
        return len(conns)
