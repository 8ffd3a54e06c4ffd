"""Admin login/logout, password change and long-lived API tokens (DESIGN §4.7)."""

from __future__ import annotations

import logging
import math

from fastapi import APIRouter, Depends, Request

from hy2scale.api.auth import AuthFailed
from hy2scale.api.deps import JSON_BODY_LIMIT, ApiError, Principal, client_address, get_auth, require_session
from hy2scale.api.schemas.auth import (
    LoginRequest,
    LoginResponse,
    PasswordChange,
    TokenCreate,
    TokenCreated,
    TokenInfo,
)
from hy2scale.api.schemas.common import Ok

log = logging.getLogger("hy2scale.api.auth")

public_router = APIRouter(tags=["auth"], max_body_size=JSON_BODY_LIMIT)
router = APIRouter(tags=["auth"], max_body_size=JSON_BODY_LIMIT)


@public_router.post("/login", response_model=LoginResponse)
async def login(body: LoginRequest, request: Request) -> LoginResponse:
    address = client_address(request)
    throttle = request.app.state.login_throttle
    wait = throttle.retry_after(address)
    if wait > 0:
        raise ApiError(429, "too many failed logins, try again later", {"Retry-After": str(math.ceil(wait))})
    try:
        token, force = await get_auth(request).login(body.username, body.password)
    except AuthFailed:
        throttle.failure(address)
        log.warning("event=login_failed address=%s", address)
        raise ApiError(401, "invalid credentials") from None
    throttle.success(address)
    log.info("event=login address=%s", address)
    return LoginResponse(token=token, force_password_change=force)


@public_router.post("/logout", response_model=Ok)
async def logout(request: Request, principal: Principal = Depends(require_session)) -> Ok:
    if principal.kind == "session":
        get_auth(request).logout(principal.token_id)
    return Ok()


@public_router.put("/settings/password", response_model=Ok)
async def change_password(
    body: PasswordChange, request: Request, principal: Principal = Depends(require_session)
) -> Ok:
    """Changes the admin username and/or password; every other session is logged out."""
    keep = principal.token_id if principal.kind == "session" else ""
    try:
        await get_auth(request).change_password(
            body.current_password, body.new_username, body.new_password, keep_token_id=keep
        )
    except AuthFailed:
        raise ApiError(403, "current password incorrect") from None
    log.info("event=admin_credentials_changed address=%s", client_address(request))
    return Ok()


def _info(record: dict) -> TokenInfo:
    return TokenInfo(
        id=record["id"],
        name=record["name"],
        created_at=record["created_at"],
        last_used=record.get("last_used") or 0.0,
    )


@router.get("/tokens", response_model=list[TokenInfo])
async def list_tokens(request: Request) -> list[TokenInfo]:
    return [_info(r) for r in get_auth(request).list_api_tokens()]


@router.post("/tokens", response_model=TokenCreated)
async def create_token(body: TokenCreate, request: Request) -> TokenCreated:
    record, secret = get_auth(request).create_api_token(body.name)
    log.info("event=api_token_created id=%s", record["id"])
    return TokenCreated(**_info(record).model_dump(), token=secret)


@router.delete("/tokens/{token_id}", response_model=Ok)
async def revoke_token(token_id: str, request: Request) -> Ok:
    if not get_auth(request).revoke_api_token(token_id):
        raise ApiError(404, f"token {token_id!r} not found")
    log.info("event=api_token_revoked id=%s", token_id)
    return Ok()
