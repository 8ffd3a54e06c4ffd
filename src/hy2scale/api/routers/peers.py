"""Peers: the live list, a peer's own peers, and the per-path flags (nested discovery, disabled)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request

from hy2scale.api.deps import JSON_BODY_LIMIT, ApiError, get_node
from hy2scale.api.live import live_call
from hy2scale.api.schemas.common import DisabledBody, EnabledBody, Ok
from hy2scale.api.schemas.node import PeerInfo
from hy2scale.api.validation import strip_self, valid_path

log = logging.getLogger("hy2scale.api.peers")

router = APIRouter(tags=["peers"], max_body_size=JSON_BODY_LIMIT)


def _peer_path(node: Any, raw: str) -> str:
    path = strip_self(raw.strip("/"), node.store.sections.get("node"))
    if not valid_path(path):
        raise ApiError(400, f"invalid peer path {raw!r}")
    return path


@router.get("/peers", response_model=list[PeerInfo], response_model_exclude_none=True)
async def list_peers(request: Request) -> list[Any]:
    node = get_node(request)
    live = await live_call(node, "peers", None)
    if live is not None:
        return live
    flags = {f["path"]: f for f in node.store.peer_flags.list()}
    return [
        {
            "name": c["name"],
            "direction": "outbound",
            "connected": False,
            "disabled": bool(c.get("disabled")),
            "nested": bool(flags.get(c["name"], {}).get("nested")),
            "latency_ms": -1,
        }
        for c in node.store.clients.list()
    ]


@router.get("/peers/{path:path}/peers", response_model=list[PeerInfo], response_model_exclude_none=True)
async def nested_peers(path: str, request: Request) -> list[Any]:
    """The peer list a connected peer reports (its sub-peers); 400 when that peer is not connected."""
    node = get_node(request)
    peer = _peer_path(node, path)
    try:
        result = await live_call(node, "nested_peers", None, peer)
    except Exception as exc:  # the peer answered badly or the stream broke: an upstream failure
        log.warning("event=nested_peers_failed path=%s error=%s", peer, type(exc).__name__)
        raise ApiError(502, f"relay: asking {peer!r} for its peers failed: {exc}") from None
    if result is None:
        raise ApiError(400, f"relay: peer {peer!r} not connected")
    return list(result)


def _set_flag(node: Any, path: str, **changes: bool) -> None:
    flags = node.store.peer_flags
    current = flags.get(path)
    if current is None:
        flags.create({"path": path, "nested": False, "disabled": False, **changes})
    else:
        flags.update(path, changes)


@router.put("/peers/{path:path}/nested", response_model=Ok)
async def set_nested(path: str, body: EnabledBody, request: Request) -> Ok:
    """Turns nested discovery for a peer (or sub-peer path) on/off; off also clears every path below it."""
    node = get_node(request)
    peer = _peer_path(node, path)
    store = node.store
    with store.transaction():
        _set_flag(node, peer, nested=body.enabled)
        if not body.enabled:
            for flag in store.peer_flags.list():
                if flag["path"].startswith(peer + "/"):
                    store.peer_flags.delete(flag["path"])
    await node.bus.publish("peer_flags")
    log.info("event=peer_nested path=%s enabled=%s", peer, body.enabled)
    return Ok()


@router.put("/peers/{path:path}/disable", response_model=Ok)
async def set_disabled(path: str, body: DisabledBody, request: Request) -> Ok:
    """A disabled peer/path stays connected but is never used as an exit hop nor propagated."""
    node = get_node(request)
    peer = _peer_path(node, path)
    with node.store.transaction():
        _set_flag(node, peer, disabled=body.disabled)
    await node.bus.publish("peer_flags")
    log.info("event=peer_disabled path=%s disabled=%s", peer, body.disabled)
    return Ok()
