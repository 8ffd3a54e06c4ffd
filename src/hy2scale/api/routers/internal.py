"""Endpoints for other nodes over the relay, never for browsers (no admin token, relay auth instead)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from hy2scale.api.deps import JSON_BODY_LIMIT, ApiError, get_node, relay_auth_id
from hy2scale.api.live import live_call
from hy2scale.api.schemas.node import PeerInfo

public_router = APIRouter(tags=["internal"], max_body_size=JSON_BODY_LIMIT)


@public_router.get("/internal/peers", response_model=list[PeerInfo], response_model_exclude_none=True)
async def internal_peers(request: Request) -> list[Any]:
    """This node's live direct peers, for reverse nested discovery. Only a peer that authenticated
    with our server password over the relay may ask (DESIGN §4.2)."""
    if relay_auth_id(request) != "system":
        raise ApiError(403, "relay peers only")
    return list(await live_call(get_node(request), "peers", []))
