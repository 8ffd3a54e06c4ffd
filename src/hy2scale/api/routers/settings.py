"""GET/PUT /api/settings/ui: UI listen and base path (next start), DNS, session timeout, resolver, limits."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from hy2scale.api.deps import JSON_BODY_LIMIT, ApiError, get_node
from hy2scale.api.routers.services import check_clash, running_api_listen
from hy2scale.api.routers.tls import cert_store
from hy2scale.api.schemas_b.common import parse_listen
from hy2scale.api.schemas_b.settings import DEFAULT_DNS, LIMITS, UiSettings, UiSettingsIn, UiSettingsSaved

# FastAPI reads and parses a JSON body before the auth dependency runs: without a cap an anonymous
# client could make us buffer and parse gigabytes.
router = APIRouter(tags=["settings"], max_body_size=JSON_BODY_LIMIT)

RESTART_NOTE = "listen / base_path / TLS settings require restart to take effect"
RESOLVER_KEYS = ("enabled", "cache_ttl", "negative_ttl", "cache_size", "query_timeout_ms")


def _normal_base(path: str) -> str:
    path = path.strip().rstrip("/")
    return path if not path or path.startswith("/") else "/" + path


def _effective_limit(name: str, raw: Any) -> int:
    default, cap = LIMITS[name]
    value = int(raw or 0)
    return default if value <= 0 else min(value, cap)


def current(node: Any, request: Request) -> dict[str, Any]:
    ui = node.store.sections.get("ui")
    resolver = node.store.sections.get("dns_resolver")
    running_listen = running_api_listen(node)
    running_base = request.app.state.base_path
    stored_base = _normal_base(ui.get("base_path") or "")
    return {
        "listen": running_listen,
        "port": parse_listen(running_listen)[1],
        "base_path": running_base,
        "configured_listen": ui.get("listen") or "",
        "configured_base_path": ui.get("base_path") or "",
        # Only stored values can be pending; empty means "the default", which flags may override.
        "restart_pending": bool(ui.get("listen") and ui["listen"] != running_listen)
        or bool(ui.get("base_path") and stored_base != running_base),
        "dns": ui.get("dns") or DEFAULT_DNS,
        "force_https": bool(ui.get("force_https")),
        "https_cert_id": ui.get("https_cert_id") or "",
        "session_timeout_h": int(ui.get("session_timeout_h") or 12),
        **{name: _effective_limit(name, ui.get(name)) for name in LIMITS},
        "relay_admin_passthrough": bool(node.store.sections.get("relay_admin").get("passthrough")),
        "dns_resolver_enabled": resolver.get("enabled") is not False,
        **{f"dns_resolver_{k}": int(resolver.get(k) or 0) for k in RESOLVER_KEYS if k != "enabled"},
    }


@router.get("/settings/ui", response_model=UiSettings)
def get_ui_settings(request: Request, node: Any = Depends(get_node)) -> dict[str, Any]:
    return current(node, request)


@router.put("/settings/ui", response_model=UiSettingsSaved)
async def put_ui_settings(
    body: UiSettingsIn, request: Request, node: Any = Depends(get_node)
) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    port = changes.pop("port", None)
    if port is not None and "listen" not in changes:
        host = parse_listen(node.store.sections.get("ui").get("listen") or running_api_listen(node))[0]
        changes["listen"] = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if "listen" in changes:
        check_clash(node, [("tcp", *parse_listen(changes["listen"]))], "ui")
    if changes.get("https_cert_id"):
        info = {}
        try:
            info = cert_store(node).info(changes["https_cert_id"])
        except ValueError:
            pass
        if not info.get("key_file"):
            raise ApiError(
                400, f"https_cert_id {changes['https_cert_id']!r} is not a stored certificate with a key"
            )
    before = current(node, request)
    store = node.store
    with store.transaction():
        ui = store.sections.get("ui")
        for key in (
            "listen",
            "base_path",
            "dns",
            "force_https",
            "https_cert_id",
            "session_timeout_h",
            *LIMITS,
        ):
            if key in changes:
                ui[key] = changes[key]
        store.sections.put("ui", ui)
        if "relay_admin_passthrough" in changes:
            store.sections.put("relay_admin", {"passthrough": changes["relay_admin_passthrough"]})
        resolver = store.sections.get("dns_resolver")
        for key in RESOLVER_KEYS:
            if f"dns_resolver_{key}" in changes:
                resolver[key] = changes[f"dns_resolver_{key}"]
        store.sections.put("dns_resolver", resolver)
    await node.bus.publish("settings")
    after = current(node, request)
    # Only a real change of a start-time setting needs a restart (the original said so on mere presence).
    tls_changed = any(k in changes and changes[k] != before[k] for k in ("force_https", "https_cert_id"))
    note = RESTART_NOTE if after["restart_pending"] or tls_changed else "applied live"
    return {**after, "status": "ok", "note": note}
