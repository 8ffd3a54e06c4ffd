"""Map an original hy2scale ``config.yaml`` (node-core.md §1.6-1.7, api.md §9) onto our store's shapes."""

from __future__ import annotations

import hashlib
import logging
import secrets
from pathlib import Path
from typing import Any

from . import keygen
from .config_io import ConfigError, Plan
from .store import section_default

log = logging.getLogger("hy2scale.config_io")

_ADMIN_DEFAULT_SHA = hashlib.sha256(b"admin").hexdigest()

# Every top-level key the original writes; anything else is refused rather than silently dropped.
KNOWN_KEYS = frozenset(
    {
        "node_id",
        "name",
        "exit_node",
        "hy2_user_auth",
        "server",
        "clients",
        "peers",
        "socks5",
        "users",
        "proxies",
        "ss",
        "l2tp",
        "ikev2",
        "wireguard",
        "rules",
        "tun_mode",
        "ui_listen",
        "ui_base_path",
        "web_username",
        "web_password",
        "dns",
        "force_https",
        "https_cert_id",
        "session_timeout_h",
        "graph_layout",
        "max_nested_depth",
        "max_response_nodes",
        "max_cache_entries",
        "max_response_bytes",
        "max_fetch_fan_out",
        "relay_admin_passthrough",
        "dns_resolver",
    }
)
_UI_KEYS = {
    "ui_listen": "listen",
    "ui_base_path": "base_path",
    "dns": "dns",
    "force_https": "force_https",
    "https_cert_id": "https_cert_id",
    "session_timeout_h": "session_timeout_h",
    "max_nested_depth": "max_nested_depth",
    "max_response_nodes": "max_response_nodes",
    "max_cache_entries": "max_cache_entries",
    "max_response_bytes": "max_response_bytes",
    "max_fetch_fan_out": "max_fetch_fan_out",
}
# Entity fields the original omits when empty, filled in so stored entities always have them.
_USER_DEFAULTS = {
    "proxy_passwords": {},
    "proxy_disabled": [],
    "exit_via": "",
    "exit_paths": [],
    "exit_mode": "",
    "traffic_limit": 0,
    "traffic_used": 0,
    "expiry_date": "",
    "enabled": False,
}
_EXIT_DEFAULTS = {"exit_via": "", "exit_paths": [], "exit_mode": ""}


def looks_original(doc: dict[str, Any]) -> bool:
    return bool({"node_id", "server", "clients", "users", "peers"} & set(doc))


def plan_original(doc: dict[str, Any], tls_dir: Path, current_node: dict[str, Any]) -> Plan:
    unknown = set(doc) - KNOWN_KEYS
    if unknown:
        raise ConfigError(f"unknown keys in original config.yaml: {', '.join(sorted(map(str, unknown)))}")
    plan = Plan()
    node_id = _str(doc, "node_id") or current_node.get("node_id", "")
    plan.sections["node"] = {
        "node_id": node_id,
        "name": _str(doc, "name") or node_id,
        "exit_node": _bool(doc, "exit_node", True),
        "hy2_user_auth": _bool(doc, "hy2_user_auth", False),
    }
    plan.sections["server"] = _server(doc.get("server"), tls_dir)
    ui = section_default("ui")
    for theirs, ours in _UI_KEYS.items():
        if doc.get(theirs) not in (None, "", 0):
            ui[ours] = doc[theirs]
    plan.sections["ui"] = ui
    plan.sections["relay_admin"] = {"passthrough": _bool(doc, "relay_admin_passthrough", False)}
    resolver = section_default("dns_resolver")
    resolver.update(_map(doc, "dns_resolver"))
    plan.sections["dns_resolver"] = resolver
    plan.sections["graph_layout"] = _graph_layout(_map(doc, "graph_layout"))
    for theirs, ours in (("ss", "shadowsocks"), ("l2tp", "l2tp"), ("ikev2", "ikev2")):
        section = section_default(ours)
        section.update(_map(doc, theirs))
        plan.sections[ours] = section
    wireguard = section_default("wireguard")
    wg = _map(doc, "wireguard")
    wireguard.update({k: v for k, v in wg.items() if k != "peers"})
    plan.sections["wireguard"] = wireguard

    tun_mode = {**section_default("tun_mode"), **_map(doc, "tun_mode")}
    plan.sections["tun_mode"] = tun_mode
    rules = [dict(r) for r in _list(doc, "rules")]
    if tun_mode.get("enabled"):
        # The original's load-time migration: the legacy global switch becomes use_tun on every ip rule.
        for rule in rules:
            if rule.get("type") == "ip":
                rule["use_tun"] = True

    plan.collections = {
        "clients": [_client(c) for c in _list(doc, "clients")],
        "peer_flags": _peer_flags(_map(doc, "peers")),
        "users": [_user(u) for u in _list(doc, "users")],
        "proxies": [{**_EXIT_DEFAULTS, **p} for p in _list(doc, "proxies")],
        "wg_peers": [{**_EXIT_DEFAULTS, **p} for p in _list_of(wg.get("peers"), "wireguard.peers")],
        "rules": [{**_EXIT_DEFAULTS, "priority": 0, "use_tun": False, **r} for r in rules],
        "api_tokens": [],
    }
    _coerce_text(plan)
    _check_keys(plan)

    username = _str(doc, "web_username") or "admin"
    password_sha = (_str(doc, "web_password") or _ADMIN_DEFAULT_SHA).lower()
    plan.admin = {
        "username": username,
        "password_hash": keygen.hash_admin_secret(password_sha),
        "force_password_change": password_sha == _ADMIN_DEFAULT_SHA,
    }
    if doc.get("socks5"):
        log.warning("event=config_import_ignored key=socks5 reason=legacy_unused_by_the_original")
    return plan


def _server(server: Any, tls_dir: Path) -> dict[str, Any]:
    section = section_default("server")
    if server is None:
        section["enabled"] = False  # `server: null`: this node runs no hy2 server
        return section
    if not isinstance(server, dict):
        raise ConfigError("server must be a mapping or null")
    section.update(server)
    section["enabled"] = True
    for key in ("tls_cert", "tls_key"):
        section[key] = _local_tls_path(str(section.get(key) or ""), tls_dir)
    return section


def _local_tls_path(path: str, tls_dir: Path) -> str:
    """The original stores absolute paths (``/data/tls/default.crt``); point them at our TLS store when the
    path does not exist on this host but names a file in a ``tls/`` directory."""
    if not path or Path(path).exists():
        return path
    p = Path(path)
    if p.parent.name == "tls":
        return str(tls_dir / p.name)
    return path


def _client(entry: dict[str, Any]) -> dict[str, Any]:
    client = dict(entry)
    addrs = client.get("addrs") or []
    if not client.get("addr") and addrs:
        client["addr"] = addrs[0]
    return client


def _user(entry: dict[str, Any]) -> dict[str, Any]:
    user = {**_USER_DEFAULTS, **entry}
    if not user.get("id"):
        user["id"] = secrets.token_hex(4)
    for key in ("traffic_limit", "traffic_used"):
        if not isinstance(user[key], int) or isinstance(user[key], bool):
            raise ConfigError(f"user {user.get('username')!r}: {key} must be an integer (bytes)")
    return user


# String fields a hand-edited file may leave unquoted (`username: 1234`, `password: 123456`).
_TEXT_FIELDS = {
    "clients": ("name", "addr", "password", "sni"),
    "users": ("id", "username", "password", "exit_via", "expiry_date"),
    "proxies": ("id", "listen", "exit_via"),
    "wg_peers": ("name", "exit_via"),
    "rules": ("id", "name", "exit_via"),
}


def _coerce_text(plan: Plan) -> None:
    for name, keys in _TEXT_FIELDS.items():
        for entity in plan.collections[name]:
            for key in keys:
                value = entity.get(key)
                if isinstance(value, int | float) and not isinstance(value, bool):
                    entity[key] = str(value)


def _check_keys(plan: Plan) -> None:
    required = {"clients": "name", "users": "username", "proxies": "id", "wg_peers": "name", "rules": "id"}
    for name, key in required.items():
        seen: set[str] = set()
        for i, entity in enumerate(plan.collections[name]):
            value = entity.get(key)
            if not isinstance(value, str) or not value:
                raise ConfigError(f"{name}[{i}].{key} is required")
            if value in seen:
                raise ConfigError(f"{name}: duplicate {key} {value!r}")
            seen.add(value)


def _graph_layout(layout: dict[str, Any]) -> dict[str, Any]:
    """YAML 1.1 reads an unquoted ``y:`` key as the boolean true; put the coordinate back under "y"."""
    fixed: dict[str, Any] = {}
    for key, point in layout.items():
        if not isinstance(point, dict):
            raise ConfigError(f"graph_layout.{key} must be a mapping of x and y")
        fixed[str(key)] = {("y" if k is True else str(k)): v for k, v in point.items()}
    return fixed


def _peer_flags(peers: dict[str, Any]) -> list[dict[str, Any]]:
    flags = []
    for path, value in peers.items():
        if not isinstance(value, dict):
            raise ConfigError(f"peers.{path} must be a mapping")
        flags.append(
            {"path": str(path), "nested": bool(value.get("nested")), "disabled": bool(value.get("disabled"))}
        )
    return flags


def _str(doc: dict[str, Any], key: str) -> str:
    value = doc.get(key)
    if value is None:
        return ""
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ConfigError(f"{key} must be a string")
    return str(value)


def _bool(doc: dict[str, Any], key: str, default: bool) -> bool:
    value = doc.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{key} must be true or false")
    return value


def _map(doc: dict[str, Any], key: str) -> dict[str, Any]:
    value = doc.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{key} must be a mapping")
    return dict(value)


def _list(doc: dict[str, Any], key: str) -> list[dict[str, Any]]:
    return _list_of(doc.get(key), key)


def _list_of(value: Any, where: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ConfigError(f"{where} must be a list of mappings")
    return [dict(item) for item in value]
