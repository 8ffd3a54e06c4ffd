"""Exit selection (DESIGN §4.11/§4.12, relay spec §6.3): where a service's connection leaves.

``""`` (and the seed's ``"direct"``) is a failover race over the paths: the first path starts at
once, the others after a stagger (or as soon as the first fails). ``"quality"`` orders the same
race by measured latency and recent failures. ``"aggregate"`` bonds one connection over every
path to the exit node (`bond_sender.py`); with fewer than two such paths it runs as failover.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field

from hy2scale.relay.addresses import join_host_port
from hy2scale.relay.bond_sender import dial_bond
from hy2scale.relay.discovery import find_paths_to, path_latency
from hy2scale.relay.mesh import Mesh, RelayError
from hy2scale.relay.paths import PathError, check_path
from hy2scale.relay.peers import UdpOutbound
from hy2scale.relay.prefetch import EarlyClose, confirm
from hy2scale.relay.udp import DirectUdp, StreamUdp
from hy2scale.streams import ByteStream, open_tcp

log = logging.getLogger("hy2scale.relay.exits")

STAGGER = 2.0
PER_PATH_TIMEOUT = 10.0
OVERALL_TIMEOUT = 30.0
RETRY_SLEEP = 2.0
DIRECT_TIMEOUT = 10.0
FAILURE_MEMORY = 60.0
FAILURE_PENALTY_MS = 1000
CONFIRM_WINDOW = 0.5


class ExitError(Exception):
    """No path could reach the target; the message names the reason."""


@dataclass(frozen=True)
class ExitRoute:
    exit_via: str = ""
    exit_paths: tuple[str, ...] = ()
    exit_mode: str = ""

    def paths(self) -> list[str]:
        paths = [p for p in self.exit_paths if p]
        if not paths and self.exit_via:
            paths = [self.exit_via]
        return paths


@dataclass
class _Score:
    latency_ms: int = -1
    failures: list[float] = field(default_factory=list)

    def penalty(self, now: float) -> int:
        self.failures = [t for t in self.failures if now - t < FAILURE_MEMORY]
        latency = self.latency_ms if self.latency_ms > 0 else 500
        return latency + FAILURE_PENALTY_MS * len(self.failures)


class ExitDialer:
    def __init__(self, mesh: Mesh) -> None:
        self.mesh = mesh
        self.active: dict[str, str] = {}
        self._scores: dict[str, _Score] = {}

    # ---- single path -------------------------------------------------------------------

    def resolve(self, path: str) -> list[str]:
        """The hops to use for ``path`` after the origin-side checks; raises ExitError."""
        mesh = self.mesh
        try:
            hops = check_path(
                path,
                self_name=mesh.name,
                self_id=mesh.node_id,
                flags=mesh.flags,
                disabled_clients=mesh.blocked,
            )
        except PathError as exc:
            raise ExitError(str(exc)) from exc
        if len(hops) == 1 and mesh.peers.get(hops[0]) is None:
            # A bare name that is not a direct peer: route through a discovered path to it.
            found = find_paths_to(mesh, hops[0])
            if found:
                return found[0].split("/")
        return hops

    async def dial_path(self, path: str, target: str, timeout: float = PER_PATH_TIMEOUT) -> ByteStream:
        hops = self.resolve(path)
        if not hops:
            host, _, port = target.rpartition(":")
            try:
                return await open_tcp(host.strip("[]"), int(port), timeout=DIRECT_TIMEOUT)
            except (OSError, TimeoutError, ValueError) as exc:
                raise ExitError(f"direct dial {target} failed: {exc}") from exc
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                return await asyncio.wait_for(
                    self.mesh.dial_hops(hops, target), max(0.1, deadline - loop.time())
                )
            except (RelayError, TimeoutError) as exc:
                if loop.time() + RETRY_SLEEP >= deadline:
                    raise ExitError(f"exit path {'/'.join(hops)!r}: {exc or 'timed out'}") from exc
            # The first hop may be reconnecting; retry within this path's time budget.
            await asyncio.sleep(RETRY_SLEEP)

    # ---- route -------------------------------------------------------------------------

    def _usable_paths(self, route: ExitRoute) -> list[str]:
        paths = route.paths()
        if not paths:
            return []
        errors: list[str] = []
        usable: list[str] = []
        for path in paths:
            try:
                self.resolve(path)
            except ExitError as exc:
                errors.append(str(exc))
                continue
            usable.append(path)
        if not usable:
            raise ExitError(
                "; ".join(errors) if len(paths) == 1 else f"all exit paths refused: {'; '.join(errors)}"
            )
        if route.exit_mode in ("quality", "stability"):
            now = time.monotonic()
            usable.sort(key=lambda p: self._rank(p, now))
        return usable

    def _rank(self, path: str, now: float) -> tuple[bool, int]:
        """Connected first hops first, then by latency plus a penalty per recent failure."""
        hops = self.resolve(path)
        unreachable = bool(hops) and self.mesh.peers.get(hops[0]) is None
        return (unreachable, self._score(path).penalty(now))

    def _score(self, path: str) -> _Score:
        score = self._scores.setdefault(path, _Score())
        measured = path_latency(self.mesh, self.resolve(path))
        if measured > 0:
            score.latency_ms = measured
        return score

    async def open_tcp(self, route: ExitRoute, host: str, port: int) -> ByteStream:
        target = join_host_port(host, port)
        paths = self._usable_paths(route)
        if not paths:
            try:
                return await open_tcp(host, port, timeout=DIRECT_TIMEOUT)
            except (OSError, TimeoutError) as exc:
                raise ExitError(f"direct dial {target} failed: {exc}") from exc
        key = route.exit_via or route.paths()[0]
        if route.exit_mode in ("aggregate", "speed"):
            legs = self._bond_legs(paths)
            if len(legs) >= 2:
                try:
                    return await dial_bond(self.mesh, legs, target)
                except RelayError as exc:
                    raise ExitError(f"bond to {target} failed: {exc}") from exc
        winner, stream = await self._race(paths, target)
        self.active[key] = winner
        return stream

    def _bond_legs(self, paths: list[str]) -> list[list[str]]:
        """Paths for bonding: the configured ones when they all end at one node, else every
        discovered path to a bare exit name; fewer than two means no bonding."""
        hop_lists = [self.resolve(p) for p in paths]
        if len(hop_lists) == 1 and len(hop_lists[0]) == 1:
            name = hop_lists[0][0]
            found = [p.split("/") for p in find_paths_to(self.mesh, name)]
            hop_lists = ([[name]] if self.mesh.peers.get(name) else []) + found
        ends = {hops[-1] for hops in hop_lists if hops}
        if len(ends) != 1 or any(not hops for hops in hop_lists):
            return []
        return hop_lists

    async def _attempt(
        self, path: str, target: str, *, confirm_window: float = 0.0
    ) -> tuple[str, ByteStream]:
        try:
            stream = await self.dial_path(path, target)
            if confirm_window and len(self.resolve(path)) > 1:
                # With alternatives left, make sure the far hops did not just close the path.
                try:
                    stream = await confirm(stream, confirm_window)
                except EarlyClose as exc:
                    raise ExitError(f"exit path {path!r}: {exc}") from exc
        except ExitError:
            self._scores.setdefault(path, _Score()).failures.append(time.monotonic())
            raise
        return path, stream

    async def _race(self, paths: list[str], target: str) -> tuple[str, ByteStream]:
        if len(paths) == 1:
            return await self._attempt(paths[0], target)
        first = asyncio.ensure_future(self._attempt(paths[0], target, confirm_window=CONFIRM_WINDOW))
        pending: set[asyncio.Future[tuple[str, ByteStream]]] = {first}
        errors: list[str] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + OVERALL_TIMEOUT
        rest_started = False
        try:
            while pending:
                wait_for = deadline - loop.time()
                if not rest_started:
                    wait_for = min(wait_for, STAGGER)
                done, pending = await asyncio.wait(
                    pending, timeout=wait_for, return_when=asyncio.FIRST_COMPLETED
                )
                winners = [f.result() for f in done if f.exception() is None]
                errors.extend(str(f.exception()) for f in done if f.exception() is not None)
                if winners:
                    for _path, extra in winners[1:]:
                        extra.close()
                    return winners[0]
                if not rest_started and (not done or not pending):
                    # Stagger elapsed, or the first path failed early: start the others together.
                    rest_started = True
                    pending |= {
                        asyncio.ensure_future(self._attempt(p, target, confirm_window=CONFIRM_WINDOW))
                        for p in paths[1:]
                    }
                elif not done and loop.time() >= deadline:
                    break
            raise ExitError(f"all exit paths failed: {'; '.join(errors) or 'timed out'}")
        finally:
            for fut in pending:
                fut.cancel()
                fut.add_done_callback(_close_late_winner)

    async def open_udp(self, route: ExitRoute) -> UdpOutbound:
        """A UDP session through the route's first usable path (UDP has no dial to race)."""
        paths = self._usable_paths(route)
        if not paths:
            return DirectUdp()
        errors: list[str] = []
        for path in paths:
            hops = self.resolve(path)
            if not hops:
                return DirectUdp()
            try:
                if len(hops) == 1:
                    session = await self.mesh.dial_udp(hops[0])
                else:
                    self.mesh.hop(hops[0])
                    session = StreamUdp(lambda addr, h=hops: self.mesh.dial_hops(h, addr))
            except (RelayError, OSError) as exc:
                errors.append(str(exc))
                continue
            self.active[route.exit_via or path] = path
            return session
        raise ExitError(f"no UDP exit: {'; '.join(errors)}")


def _close_late_winner(fut: asyncio.Future[tuple[str, ByteStream]]) -> None:
    if fut.cancelled() or fut.exception() is not None:
        return
    with contextlib.suppress(Exception):
        fut.result()[1].close()
