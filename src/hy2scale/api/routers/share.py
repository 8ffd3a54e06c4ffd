"""User share links, QR codes and the public subscription endpoint.

``router`` (authenticated, under ``{base}/api``): ``GET /users/{id}/share`` and ``GET /users/{id}/qr``.
``sub_router`` (public, to be mounted under ``{base}``): ``GET /sub/{token}`` — the token is the secret.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from hy2scale.accounts.users import User
from hy2scale.api.deps import ApiError, get_node
from hy2scale.services import share

log = logging.getLogger("hy2scale.api.share")

router = APIRouter(tags=["share"])
sub_router = APIRouter(tags=["share"])


def _user(node: Any, user_id: str) -> User:
    raw = node.store.users.get(user_id)
    if raw is None:
        raise ApiError(404, "user not found")
    return User.from_dict(raw)


def _host(request: Request, host: str | None) -> str:
    return host or request.url.hostname or "127.0.0.1"


@router.get("/users/{user_id}/share")
async def user_share(user_id: str, request: Request, host: str | None = Query(None)) -> dict[str, Any]:
    """Every link of the user, plus its subscription URL (`{base}/sub/<token>`)."""
    node = get_node(request)
    user = _user(node, user_id)
    items = share.endpoints(node, user, _host(request, host))
    base = str(request.base_url).rstrip("/") + request.app.state.base_path
    return {
        "links": [{"proxy": e.proxy, "name": e.name, "uri": e.uri} for e in items],
        "subscription": f"{base}/sub/{share.sub_token(node, user)}",
    }


@router.get("/users/{user_id}/qr", response_class=Response, responses={200: {"content": {"image/png": {}}}})
async def user_qr(
    user_id: str, request: Request, proxy: str | None = Query(None), host: str | None = Query(None)
) -> Response:
    """QR PNG of one link (`?proxy=hy2|ss|socks5|http`, default the first one the user has)."""
    node = get_node(request)
    items = share.endpoints(node, _user(node, user_id), _host(request, host))
    chosen = [e for e in items if proxy in (None, e.proxy, e.name)]
    if not chosen:
        raise ApiError(404, "no share link for that proxy")
    return Response(share.qr_png(chosen[0].uri), media_type="image/png")


@sub_router.get("/sub/{token}", response_class=Response)
async def subscription(
    token: str, request: Request, format: str | None = Query(None), host: str | None = Query(None)
) -> Response:
    """`?format=base64|uri|singbox|clash`; without it the User-Agent picks (sing-box, Clash/mihomo, else base64)."""
    node = get_node(request)
    index = getattr(request.app.state, "sub_tokens", None)
    if index is None:
        index = request.app.state.sub_tokens = share.TokenIndex()
    user = index.lookup(node, token)
    if user is None or not user.enabled:
        raise ApiError(404, "not found")
    fmt = share.pick_format(format, request.headers.get("user-agent", ""))
    body, media = share.subscription(share.endpoints(node, user, _host(request, host)), fmt)
    log.info("event=subscription_served user=%s format=%s", user.username, fmt)
    return Response(body, media_type=media)
