"""The API app factory: every router under ``{base}/api``, one error shape, token auth, the SPA last."""

from __future__ import annotations

import importlib
import logging
from typing import Any

from fastapi import Depends, FastAPI

from hy2scale import __version__
from hy2scale.api.auth import AuthService
from hy2scale.api.deps import require_auth
from hy2scale.api.errors import ERROR_RESPONSES, install_error_handlers
from hy2scale.api.throttle import LoginThrottle

log = logging.getLogger("hy2scale.api")

DEFAULT_BASE_PATH = "/scale"

# Router modules under hy2scale.api.routers, mounted in this order. A module exposes ``router``
# (every route behind require_auth) and/or ``public_router`` (no auth dependency added; routes there
# declare their own, e.g. require_session for the password change), and/or ``sub_router`` (public,
# under ``{base}`` instead of ``{base}/api``). Modules not written yet are skipped.
ROUTER_MODULES = (
    "auth",
    "node",
    "peers",
    "clients",
    "users_xlsx",  # before "users": /users/export.xlsx is not a user id
    "users",
    "sessions",
    "rules",
    "graph_layout",
    "internal",
    "tls",
    "settings",
    "backup",
    "upgrade",
    "system",
    "services",
    "diag",
    "share",
    "remote",
    "metrics",
)


def normalize_base_path(base_path: str | None) -> str:
    """``/scale/`` → ``/scale``, ``scale`` → ``/scale``, ``/`` → ``""`` (serve at the root)."""
    path = (base_path if base_path is not None else DEFAULT_BASE_PATH).strip().rstrip("/")
    if path and not path.startswith("/"):
        path = "/" + path
    return path


def _configured_base_path(node: Any) -> str | None:
    settings = getattr(node, "settings", None)
    value = getattr(settings, "base_path", None)
    if value is None and isinstance(settings, dict):
        value = settings.get("base_path")
    return value


def create_app(node: Any, base_path: str | None = None) -> FastAPI:
    base = normalize_base_path(base_path if base_path is not None else _configured_base_path(node))
    api = f"{base}/api"
    app = FastAPI(
        title="hy2scale",
        version=__version__,
        description="Management API of a hy2scale node. Authenticate with POST /api/login.",
        openapi_url=f"{api}/openapi.json",
        docs_url=f"{api}/docs",
        redoc_url=None,
        responses=ERROR_RESPONSES,
    )
    app.state.node = node
    app.state.base_path = base
    app.state.auth = AuthService(node.store)
    app.state.login_throttle = LoginThrottle()
    install_error_handlers(app)

    for name in ROUTER_MODULES:
        try:
            module = importlib.import_module(f"hy2scale.api.routers.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"hy2scale.api.routers.{name}":
                raise  # a present module failing to import is a bug, not a missing part
            log.debug("event=router_missing name=%s", name)
            continue
        public = getattr(module, "public_router", None)
        if public is not None:
            app.include_router(public, prefix=api)
        outside_api = getattr(module, "sub_router", None)
        if outside_api is not None:
            app.include_router(outside_api, prefix=base)
        authed = getattr(module, "router", None)
        if authed is not None:
            app.include_router(authed, prefix=api, dependencies=[Depends(require_auth)])
        startup = getattr(module, "install", None)
        if startup is not None:
            startup(app)

    _mount_ui(app, base)
    return app


def _mount_ui(app: FastAPI, base: str) -> None:
    """The SPA catches every non-API path, so it is mounted after the API routes."""
    try:
        ui = importlib.import_module("hy2scale.api.ui")
    except ModuleNotFoundError as exc:
        if exc.name != "hy2scale.api.ui":
            raise
        return
    ui.mount_ui(app, base)
