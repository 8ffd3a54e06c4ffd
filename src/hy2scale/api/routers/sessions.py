"""Device sessions of the node's services: list and kick (the device is then locked out for 60 s)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request

from hy2scale.api.deps import JSON_BODY_LIMIT, ApiError, get_node
from hy2scale.api.schemas.common import Ok
from hy2scale.api.schemas.sessions import SessionList

log = logging.getLogger("hy2scale.api.sessions")

router = APIRouter(tags=["sessions"], max_body_size=JSON_BODY_LIMIT)


@router.get("/sessions", response_model=SessionList)
async def list_sessions(request: Request) -> SessionList:
    accounts = getattr(get_node(request), "accounts", None)
    devices = accounts.sessions() if accounts is not None else []
    return SessionList.model_validate({"devices": devices, "total": len(devices)})


@router.delete("/sessions/{key:path}", response_model=Ok)
async def kick(key: str, request: Request) -> Ok:
    """``key`` is ``username|ip|protocol`` (URL-encoded)."""
    accounts = getattr(get_node(request), "accounts", None)
    if accounts is None or not accounts.kick(key):
        raise ApiError(404, "session not found")
    log.info("event=session_kicked key=%s", key)
    return Ok()
