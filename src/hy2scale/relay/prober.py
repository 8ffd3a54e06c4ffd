"""Health (relay spec §9): ping every outbound peer every 5 s, the 3-strike failure rule, and
the 1 s rate ticker."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from hy2scale.relay import addresses as A
from hy2scale.relay.mesh import Mesh, RelayError
from hy2scale.relay.peers import Peer
from hy2scale.relay.streamio import close_quietly

log = logging.getLogger("hy2scale.relay.prober")

PROBE_EVERY = 5.0
PING_TIMEOUT = 2.0
FAIL_LIMIT = 3
RATE_EVERY = 1.0


async def _ping_once(mesh: Mesh, peer: Peer, addr: str) -> None:
    stream = await mesh.open_on(peer, addr)
    try:
        await stream.read(1)
    finally:
        await close_quietly(stream)


async def ping(mesh: Mesh, peer: Peer) -> int:
    """RTT in ms (at least 1) of one `_relay_ping_`; raises on failure or after 2 s."""
    loop = asyncio.get_running_loop()
    start = loop.time()

    async def attempt() -> None:
        try:
            await _ping_once(mesh, peer, A.PING)
        except RelayError:
            # Peers older than 1.3 have no ping; any answer on list_peers proves liveness.
            await _ping_once(mesh, peer, A.LIST_PEERS)

    await asyncio.wait_for(attempt(), PING_TIMEOUT)
    return max(1, round((loop.time() - start) * 1000))


def _native_rtt(peer: Peer) -> int:
    client = getattr(peer.transport, "client", None)
    rtt = getattr(client, "rtt", 0) or 0
    # A native server has no ping stream; the QUIC RTT estimate stands in for it.
    return max(1, round(rtt * 1000)) if rtt else -1


async def probe(mesh: Mesh, peer: Peer) -> None:
    if peer.direction != "outbound" or peer.closed.is_set():
        return
    if peer.native:
        peer.stats.set_latency(_native_rtt(peer))
        return
    rx_before = peer.stats.rx
    try:
        ms = await ping(mesh, peer)
    except (RelayError, TimeoutError, OSError, ConnectionError, EOFError) as exc:
        peer.stats.set_latency(-1)
        peer.stats.ping_fail += 1
        if peer.stats.rx != rx_before:
            # Bytes arrived from the peer while the ping waited: a probe starved by congestion,
            # not a dead link. (Only arriving bytes prove liveness; writes buffer into a dead link.)
            peer.stats.fail_count = 0
        else:
            peer.stats.fail_count += 1
        log.info("event=ping_failed peer=%s fails=%d error=%r", peer.name, peer.stats.fail_count, exc)
        if peer.stats.fail_count >= FAIL_LIMIT:
            log.warning("event=peer_dead peer=%s reason=ping_failures", peer.name)
            mesh.remove(peer)
        return
    peer.stats.set_latency(ms)
    peer.stats.fail_count = 0
    peer.stats.ping_ok += 1


async def run_prober(mesh: Mesh, every: float = PROBE_EVERY) -> None:
    """Probe every primary peer on a fixed 5 s grid, so slow (failing) probes do not stretch
    the interval and a dead peer is dropped within 3 intervals plus one ping timeout."""
    loop = asyncio.get_running_loop()
    next_at = loop.time() + every
    running: dict[Peer, asyncio.Task[None]] = {}
    try:
        while True:
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            next_at += every
            for peer, task in [(p, t) for p, t in running.items() if t.done()]:
                del running[peer]
                if not task.cancelled() and task.exception() is not None:
                    log.warning("event=probe_crashed peer=%s error=%r", peer.name, task.exception())
            for peer in list(mesh.peers.primary.values()):
                if peer not in running:
                    running[peer] = asyncio.ensure_future(probe(mesh, peer))
    finally:
        for task in running.values():
            task.cancel()
        await asyncio.gather(*running.values(), return_exceptions=True)


async def run_rate_ticker(mesh: Mesh, every: float = RATE_EVERY) -> None:
    loop = asyncio.get_running_loop()
    last = loop.time()
    while True:
        await asyncio.sleep(every)
        now = loop.time()
        with contextlib.suppress(ZeroDivisionError):
            mesh.tick_rates(now - last)
        last = now
