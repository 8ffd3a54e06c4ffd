"""FastAPI dependencies shared by every router: the node, authentication, relay auth context."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request
from fastapi.security import APIKeyQuery, HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import ASGIApp, Receive, Scope, Send

from hy2scale.api.auth import AuthService, Principal
from hy2scale.api.errors import ApiError

__all__ = [
    "JSON_BODY_LIMIT",
    "RELAY_AUTH_SCOPE_KEY",
    "ApiError",
    "Principal",
    "get_auth",
    "get_node",
    "relay_auth_id",
    "require_auth",
    "require_session",
    "with_relay_auth",
]

# ASGI scope key carrying the hy2 auth id of a request that arrived over a relay stream
# (`_relay_api_`). Only the in-process relay listener sets it; HTTP clients cannot forge scope keys.
RELAY_AUTH_SCOPE_KEY = "hy2scale.relay_auth"
# JSON request bodies are small; a cap keeps a hostile client from making us buffer gigabytes.
JSON_BODY_LIMIT = 4 << 20

_bearer = HTTPBearer(auto_error=False, description="Session token from POST /api/login, or an API token")
_query_token = APIKeyQuery(
    name="token", auto_error=False, description="Same token as a query parameter (for EventSource)"
)


def get_node(request: Request) -> Any:
    return request.app.state.node


def get_auth(request: Request) -> AuthService:
    return request.app.state.auth


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def relay_auth_id(request: Request) -> str | None:
    return request.scope.get(RELAY_AUTH_SCOPE_KEY)


def with_relay_auth(app: ASGIApp, auth_id: str) -> ASGIApp:
    """Wraps the API app for one relay-delivered connection, tagging every request with ``auth_id``."""

    async def tagged(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope = {**scope, RELAY_AUTH_SCOPE_KEY: auth_id}
        await app(scope, receive, send)

    return tagged


def _relay_passthrough(request: Request) -> bool:
    """A relay request from a peer holding our server password may skip the token if the admin allows it."""
    if relay_auth_id(request) != "system":
        return False
    node = get_node(request)
    return bool(node.store.sections.get("relay_admin").get("passthrough"))


async def require_session(
    request: Request,
    bearer: HTTPAuthorizationCredentials | None = Depends(_bearer),
    query_token: str | None = Depends(_query_token),
) -> Principal:
    """A valid session or API token (header first, then ``?token=``); the forced password change is not checked."""
    header = request.headers.get("authorization", "")
    if bearer is not None:
        token = bearer.credentials
    elif header:
        token = header  # a non-Bearer header is taken whole, so it fails like a wrong token
    else:
        token = query_token or ""
    if token:
        principal = get_auth(request).check_token(token)
        if principal is not None:
            request.state.principal = principal
            return principal
    if _relay_passthrough(request):
        principal = Principal("relay", relay_auth_id(request) or "")
        request.state.principal = principal
        return principal
    raise ApiError(401, "unauthorized", {"WWW-Authenticate": "Bearer"})


async def require_auth(request: Request, principal: Principal = Depends(require_session)) -> Principal:
    """``require_session`` plus the server-side forced password change (DESIGN §4.7)."""
    if principal.kind == "session" and get_auth(request).force_password_change():
        raise ApiError(403, "password change required: PUT /api/settings/password first")
    return principal
