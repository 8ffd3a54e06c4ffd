"""One error shape for the whole API: ``{"error": "..."}`` with the status that fits the mistake."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("hy2scale.api")


class ErrorBody(BaseModel):
    error: str


class ApiError(Exception):
    """Raised by routers and dependencies; becomes ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


# Documented on every operation so the OpenAPI contract names the error shape and codes we really send.
ERROR_RESPONSES: dict[int | str, dict] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in {
        400: "Bad input",
        401: "Not authenticated",
        403: "Forbidden (wrong password, forced password change, capability)",
        404: "Unknown id",
        409: "Duplicate or conflict",
        422: "Validation failed",
        429: "Too many failed logins",
        502: "A peer or upstream failed",
    }.items()
}


def error_response(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=dict(headers or {}))


def _describe_validation(exc: RequestValidationError) -> tuple[int, str]:
    """Malformed JSON is 400 (as the original); a well-formed body with bad fields is 422."""
    errors = exc.errors()
    if any(err.get("type") == "json_invalid" for err in errors):
        return 400, "invalid JSON body"
    parts = []
    for err in errors[:5]:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
        where = ".".join(loc)
        msg = str(err.get("msg", "invalid value"))
        parts.append(f"{where}: {msg}" if where else msg)
    return 422, "; ".join(parts) or "invalid request"


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.message, exc.headers)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    status, message = _describe_validation(exc)
    return error_response(status, message)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    message = exc.detail if isinstance(exc.detail, str) else "error"
    return error_response(exc.status_code, message, exc.headers)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error(
        "event=api_error method=%s path=%s error=%s",
        request.method,
        request.url.path,
        type(exc).__name__,
        exc_info=exc,
    )
    return error_response(500, "internal error")


def _store_errors() -> list[tuple[type[Exception], int]]:
    """Store errors map to 404/409 when a router lets them escape (the store may not exist yet)."""
    try:
        from hy2scale import store
    except ImportError:
        return []
    pairs = []
    for name, status in (("NotFound", 404), ("Conflict", 409)):
        cls = getattr(store, name, None)
        if isinstance(cls, type) and issubclass(cls, Exception):
            pairs.append((cls, status))
    return pairs


class JsonTooLarge:
    """Starlette's body-size cap answers 413 in plain text before any handler runs; keep our error shape."""

    BODY = b'{"error":"request body too large"}'

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rewriting = False

        async def rewrite(message: Message) -> None:
            nonlocal rewriting
            if message["type"] == "http.response.start" and message["status"] == 413:
                headers = dict(message.get("headers") or [])
                if headers.get(b"content-type", b"").startswith(b"text/plain"):
                    rewriting = True
                    message = {
                        **message,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(self.BODY)).encode()),
                        ],
                    }
            elif rewriting and message["type"] == "http.response.body":
                if message.get("more_body"):
                    return
                message = {"type": "http.response.body", "body": self.BODY}
            await send(message)

        await self.app(scope, receive, rewrite)


def install_error_handlers(app: FastAPI) -> None:
    app.add_middleware(JsonTooLarge)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for cls, status in _store_errors():

        async def _store_error(_: Request, exc: Exception, status: int = status) -> JSONResponse:
            return error_response(status, str(exc) or ("not found" if status == 404 else "conflict"))

        app.add_exception_handler(cls, _store_error)
    app.add_exception_handler(Exception, _unexpected)
