"""Serving relay streams another node opened on us (or asked us to open back over ctrl).

``handle_stream`` is the single dispatcher behind every ``_relay_*`` address (relay spec §1.3,
§4, §5, §6.2). A relay-level failure is signalled only by closing the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable

from hy2scale.relay import addresses as A
from hy2scale.relay import wire
from hy2scale.relay.bond import PREFIX as BOND_PREFIX
from hy2scale.relay.discovery import list_peers_payload
from hy2scale.relay.mesh import Mesh, RelayError, StreamContext
from hy2scale.relay.meta import our_meta, parse_peer_meta
from hy2scale.relay.peers import Peer
from hy2scale.relay.streamio import close_quietly, read_hello, read_meta16, read_str16, read_u16
from hy2scale.relay.transports import CtrlTransport
from hy2scale.relay.udp import serve_udp_stream
from hy2scale.streams import ByteStream, open_tcp, pipe

log = logging.getLogger("hy2scale.relay")

CTRL_BIND_WAIT = 3.0
MAX_VIA_HOPS = 16


async def handle_stream(mesh: Mesh, addr: str, stream: ByteStream, ctx: StreamContext) -> None:
    """Serve one relay stream; always closes ``stream`` when done."""
    addr, _tag = A.strip_bridge(addr)
    handed_off = False
    try:
        if addr == A.REGISTER:
            await _register(mesh, stream, ctx)
        elif addr == A.CTRL:
            await _ctrl(mesh, stream, ctx)
        elif addr.startswith(A.DATA_PREFIX):
            # On a match the waiting requester owns the stream from here on.
            handed_off = await mesh.deliver_data(A.parse_data_address(addr), stream, ctx.conn_key)
        elif addr.startswith(A.VIA_PREFIX):
            await _via(mesh, addr, stream)
        elif addr == A.LIST_PEERS:
            stream.write(json.dumps(list_peers_payload(mesh), separators=(",", ":")).encode())
            await stream.drain()
        elif addr == A.PING:
            stream.write(b"\x01")
            await stream.drain()
        elif addr == A.LATENCY:
            await _latency(mesh, stream)
        elif addr == A.API and mesh.api_handler is not None:
            await mesh.api_handler(stream, ctx.auth_id)
        # _relay_rebind_ (no bridges here: OK then close so the requester gives up at once),
        # _relay_iptun_ (not supported) and unknown kinds end here.
    except (EOFError, OSError, ConnectionError, wire.WireError, asyncio.IncompleteReadError) as exc:
        log.debug("event=relay_stream_ended addr=%s error=%r", addr[:64], exc)
    finally:
        if not handed_off:
            await close_quietly(stream)


async def _register(mesh: Mesh, stream: ByteStream, ctx: StreamContext) -> None:
    hello = await read_hello(stream)
    stream.write(wire.encode_str16(mesh.name))
    if hello.speaks_meta:
        stream.write(wire.encode_meta16(our_meta(mesh.node_id, mesh.tun)))
    await stream.drain()
    meta = parse_peer_meta(await read_meta16(stream))
    if not A.routable_name(hello.name) or hello.name in (mesh.name, mesh.node_id):
        log.warning("event=register_refused peer=%r reason=bad_or_own_name", hello.name)
        return
    if hello.name in mesh.blocked:
        log.info("event=register_refused peer=%s reason=disabled", hello.name)
        return
    live = mesh.peers.get(hello.name)
    if not hello.speaks_meta and live is not None and not live.incompatible:
        # A bare (flags 0) register next to a live meta-capable one is a Go extra-IP probe:
        # answering the name was enough, installing it would evict the real entry.
        return
    peer = Peer(
        name=hello.name,
        direction="inbound",
        meta=meta,
        exit_node=hello.exit_node,
        conn_key=ctx.conn_key,
    )
    peer.transport = CtrlTransport(mesh, peer)
    if not mesh.install(peer):
        return
    try:
        # Any byte or EOF on the register stream ends the registration (relay spec §3.6).
        watchdog = asyncio.ensure_future(stream.read(1))
        closed = asyncio.ensure_future(peer.closed.wait())
        try:
            await asyncio.wait({watchdog, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (watchdog, closed):
                t.cancel()
            await asyncio.gather(watchdog, closed, return_exceptions=True)
    finally:
        mesh.remove(peer)
        if peer.ctrl is not None:
            peer.ctrl.close()


async def _ctrl(mesh: Mesh, stream: ByteStream, ctx: StreamContext) -> None:
    name = await read_str16(stream, 1024)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CTRL_BIND_WAIT
    peer = None
    # Register and ctrl race; bind ctrl to the inbound entry of this very connection.
    while loop.time() < deadline:
        peer = next(
            (
                p
                for p in mesh.peers.all()
                if p.name == name and p.direction == "inbound" and p.conn_key == ctx.conn_key
            ),
            None,
        )
        if peer is not None:
            break
        await asyncio.sleep(0.02)
    if peer is None:
        log.info("event=ctrl_refused peer=%s reason=not_registered", name)
        return
    peer.ctrl = stream
    peer.ctrl_ready.set()
    log.info("event=ctrl_up peer=%s", name)
    reader = asyncio.ensure_future(stream.read(1))
    closed = asyncio.ensure_future(peer.closed.wait())
    try:
        await asyncio.wait({reader, closed}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in (reader, closed):
            t.cancel()
        await asyncio.gather(reader, closed, return_exceptions=True)
        if peer.ctrl is stream:
            peer.ctrl = None
            peer.ctrl_ready.clear()


async def _latency(mesh: Mesh, stream: ByteStream) -> None:
    name = await read_str16(stream, 1024)
    ms = await read_u16(stream)
    peer = mesh.peers.get(name)
    # Only an inbound peer reports to us; outbound ones we measure ourselves.
    if peer is not None and peer.direction == "inbound" and ms > 0:
        peer.stats.set_latency(ms)


async def _via(mesh: Mesh, addr: str, stream: ByteStream) -> None:
    try:
        via = A.parse_via(addr)
    except ValueError:
        log.info("event=via_refused reason=malformed")
        return
    target, _tag = A.strip_bridge(via.target)
    if len(via.hops) > MAX_VIA_HOPS:
        log.info("event=via_refused reason=too_many_hops hops=%d", len(via.hops))
        return
    try:
        onward = await mesh.dial_hops(list(via.hops), target)
    except RelayError as exc:
        log.info("event=via_failed next=%s error=%s", via.hops[0], exc)
        return
    await pipe(stream, onward)


async def serve_request(
    mesh: Mesh, peer: Peer, req_id: str, addr: str, open_data: Callable[[str], Awaitable[ByteStream]]
) -> None:
    """Dialer side of ctrl (§4.3): serve one request and answer on ``_relay_data_<id>``."""
    if not mesh.usable(peer):
        return
    addr, _tag = A.strip_bridge(addr)
    data_addr = A.data_address(req_id)
    if addr.startswith(A.UDP_PREFIX):
        stream = await open_data(data_addr)
        await serve_udp_stream(stream, addr[len(A.UDP_PREFIX) :])
        return
    if addr.startswith(BOND_PREFIX):
        stream = await open_data(data_addr)
        try:
            await mesh.bonds.handle_leg(addr, stream)
        finally:
            stream.close()
        return
    if A.is_local_relay(addr):
        stream = await open_data(data_addr)
        # The requester is a server we dialed: it never proved it holds *our* password, so its
        # streams get no auth id (no admin passthrough on `_relay_api_`).
        await handle_stream(mesh, addr, stream, StreamContext(auth_id=""))
        return
    try:
        host, port = A.split_host_port(addr)
        target = await open_tcp(host, port, timeout=10.0)
    except (OSError, ValueError, TimeoutError) as exc:
        log.info("event=reverse_dial_failed peer=%s target=%s error=%s", peer.name, addr, exc)
        return
    try:
        stream = await open_data(data_addr)
    except Exception:
        target.close()
        raise
    with contextlib.suppress(Exception):
        await pipe(target, stream)
