"""`Accounts`: authentication, device sessions, live traffic accounting and enforcement.

Users come from ``node.store.users``; the index is rebuilt on bus topic "users". Bytes are
counted per chunk while connections run; pending counts reach the store in one batch at most
every ``flush_interval`` seconds and at stop. A user who crosses the limit is cut at the chunk
that crosses it; expiry and disabling are enforced by a periodic sweep.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from hy2scale.accounts.index import UserIndex
from hy2scale.accounts.sessions import Connection, Sessions, device_key
from hy2scale.accounts.users import User
from hy2scale.relay.exits import ExitRoute

log = logging.getLogger("hy2scale.accounts")

FLUSH_INTERVAL = 30.0
ENFORCE_INTERVAL = 5.0


@dataclass(frozen=True)
class AuthResult:
    """``user`` is set only when ``reason`` is "ok", so callers can never admit a refused user."""

    user: User | None
    reason: str  # ok, bad_credentials, disabled, expired, over_limit, proxy_disabled, kicked

    @property
    def ok(self) -> bool:
        return self.reason == "ok"


class _Usage:
    """Traffic of one user: what the store holds (plus what we flushed) and what is still pending."""

    __slots__ = ("base", "cut", "limit", "pending_rx", "pending_tx")

    def __init__(self, base: int, limit: int) -> None:
        self.base = base
        self.limit = limit
        self.pending_tx = 0
        self.pending_rx = 0
        self.cut = False

    @property
    def total(self) -> int:
        return self.base + self.pending_tx + self.pending_rx

    def over(self) -> bool:
        return self.limit > 0 and self.total >= self.limit


class Accounts:
    def __init__(
        self,
        node: Any,
        *,
        flush_interval: float = FLUSH_INTERVAL,
        enforce_interval: float = ENFORCE_INTERVAL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._node = node
        self._store = node.store
        self._clock = clock
        self._flush_interval = flush_interval
        self._enforce_interval = enforce_interval
        self.sessions_registry = Sessions(clock=clock)
        self._index = UserIndex(())
        # Bumped on every rebuild so services can cache per-user derived keys.
        self.version = 0
        self._usage: dict[str, _Usage] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.reload()
        bus = getattr(node, "bus", None)
        if bus is not None:
            bus.subscribe("users", self._on_users_changed)

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._every(self._flush_interval, self.flush), name="accounts-flush"),
            asyncio.create_task(self._every(self._enforce_interval, self.enforce), name="accounts-enforce"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self.flush()

    async def _every(self, interval: float, job: Callable[[], Any]) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                result = job()
                if asyncio.iscoroutine(result):
                    await result
            except Exception:
                log.exception("event=accounts_job_failed job=%s", getattr(job, "__name__", job))

    # ---- users index -----------------------------------------------------------------------

    async def _on_users_changed(self, _topic: str) -> None:
        self.reload()

    def reload(self) -> None:
        """Rebuild the index from the store; kick users whose credentials changed, cut removed ones."""
        old = self._index
        new = UserIndex(User.from_dict(raw) for raw in self._store.users.list())
        self._index = new
        self.version += 1
        for user_id, before in old.by_id.items():
            after = new.by_id.get(user_id)
            if after is None:
                self.sessions_registry.close_user(user_id)
            elif after.credentials() != before.credentials():
                self.sessions_registry.kick_user(before.username)
        usage: dict[str, _Usage] = {}
        for user in new.by_id.values():
            current = self._usage.get(user.id)
            if current is None:
                current = _Usage(user.traffic_used, user.traffic_limit)
            elif user.traffic_used < current.base:
                # The stored figure went down: traffic was reset, so unflushed bytes go too.
                current.pending_tx = current.pending_rx = 0
            current.base = user.traffic_used
            current.limit = user.traffic_limit
            current.cut = False
            usage[user.id] = current
        self._usage = usage
        self.enforce()

    def users(self) -> list[User]:
        return list(self._index.by_id.values())

    def conflicts(self) -> dict[str, dict[str, list[str]]]:
        return self._index.conflicts()

    def password_users(self, proxy: str) -> list[tuple[User, str]]:
        return self._index.password_users(proxy)

    def traffic_used(self, user_id: str) -> int:
        usage = self._usage.get(user_id)
        return usage.total if usage else 0

    # ---- authentication --------------------------------------------------------------------

    def _refusal(self, user: User, proxy: str) -> str | None:
        if not user.enabled:
            return "disabled"
        if not user.allows(proxy):
            return "proxy_disabled"
        if user.expired(dt.datetime.fromtimestamp(self._clock(), dt.UTC)):
            return "expired"
        usage = self._usage.get(user.id)
        if usage is not None and usage.over():
            return "over_limit"
        return None

    def authenticate(self, username: str | None, password: str, proxy: str, ip: str) -> AuthResult:
        """Username services compare the main password; password-only ones (hy2, ss) look the password up."""
        if username is None:
            user, conflicted = self._index.by_password(proxy, password)
            if conflicted or user is None:
                return AuthResult(None, "bad_credentials")
        else:
            user = self._index.by_username.get(username)
            if user is None or not password or user.password != password:
                return AuthResult(None, "bad_credentials")
        reason = self._refusal(user, proxy)
        if reason is None and self.sessions_registry.is_blocked(device_key(user.username, ip, proxy)):
            reason = "kicked"
        if reason is not None:
            log.info("event=auth_refused proxy=%s user=%s ip=%s reason=%s", proxy, user.username, ip, reason)
            return AuthResult(None, reason)
        return AuthResult(user, "ok")

    # ---- connections -----------------------------------------------------------------------

    def open_connection(self, user: User | None, ip: str, protocol: str) -> Connection:
        """Register a connection of the device; it comes back already closed when the device is blocked."""
        if user is None:
            return self.sessions_registry.open("", ip, protocol, "", None)
        usage = self._usage.get(user.id)
        meter = self._meter(user.id, usage) if usage is not None else None
        return self.sessions_registry.open(user.username, ip, protocol, user.id, meter)

    def _meter(self, user_id: str, usage: _Usage) -> Callable[[int, int], None]:
        def count(tx: int, rx: int) -> None:
            usage.pending_tx += tx
            usage.pending_rx += rx
            if usage.limit and not usage.cut and usage.total >= usage.limit:
                usage.cut = True
                log.info(
                    "event=traffic_limit_reached user_id=%s used=%d limit=%d",
                    user_id,
                    usage.total,
                    usage.limit,
                )
                # Cut outside the copy loop that is counting right now.
                asyncio.get_running_loop().call_soon(self.sessions_registry.close_user, user_id)

        return count

    def route_for(
        self, user: User | None, proxy_exit: str = "", proxy_paths: Sequence[str] = (), proxy_mode: str = ""
    ) -> ExitRoute:
        """The proxy's own exit wins, then the user's, else direct (empty route)."""
        if proxy_exit or proxy_paths:
            paths = tuple(proxy_paths) or (proxy_exit,)
            return ExitRoute(exit_via=proxy_exit or paths[0], exit_paths=paths, exit_mode=proxy_mode)
        if user is None or not (user.exit_via or user.exit_paths):
            return ExitRoute()
        paths = user.exit_paths or (user.exit_via,)
        return ExitRoute(exit_via=user.exit_via or paths[0], exit_paths=paths, exit_mode=user.exit_mode)

    # ---- sessions API ----------------------------------------------------------------------

    def sessions(self) -> list[dict[str, Any]]:
        """Devices in the shape of api.md §3.6.2 (the router wraps them in {devices, total})."""
        return self.sessions_registry.list()

    def kick(self, key: str) -> bool:
        return self.sessions_registry.kick(key)

    # ---- traffic ---------------------------------------------------------------------------

    def reset_traffic(self, user_id: str) -> None:
        """Forget unflushed bytes of a user whose stored traffic the API has just reset."""
        usage = self._usage.get(user_id)
        if usage is not None:
            usage.base = usage.pending_tx = usage.pending_rx = 0
            usage.cut = False

    async def flush(self) -> None:
        """Write pending counters to the store in one batch."""
        batch: dict[str, tuple[int, int]] = {}
        for user_id, usage in self._usage.items():
            if usage.pending_tx or usage.pending_rx:
                batch[user_id] = (usage.pending_tx, usage.pending_rx)
        if not batch:
            return
        for user_id, (tx, rx) in batch.items():
            usage = self._usage[user_id]
            usage.pending_tx -= tx
            usage.pending_rx -= rx
            usage.base += tx + rx
        try:
            self._store.users.add_traffic(batch)
        except Exception:
            log.exception("event=traffic_flush_failed users=%d", len(batch))
            for user_id, (tx, rx) in batch.items():
                usage = self._usage.get(user_id)
                if usage is not None:
                    usage.pending_tx += tx
                    usage.pending_rx += rx
                    usage.base -= tx + rx
            return
        log.debug("event=traffic_flushed users=%d", len(batch))

    def enforce(self) -> None:
        """Cut live connections of users that are gone, disabled, expired or over their limit."""
        self.sessions_registry.purge_blocks()
        now = dt.datetime.fromtimestamp(self._clock(), dt.UTC)
        for user_id in {c.user_id for c in self.sessions_registry.connections() if c.user_id}:
            user = self._index.by_id.get(user_id)
            usage = self._usage.get(user_id)
            if user is None or not user.enabled or user.expired(now) or (usage is not None and usage.over()):
                closed = self.sessions_registry.close_user(user_id)
                log.info("event=user_cut_off user_id=%s connections=%d", user_id, closed)
