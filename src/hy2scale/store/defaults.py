"""Defaults of the singleton sections (node-core.md §1.4-1.7, §10; api.md §3.4, §3.8).

``sections.get`` overlays the stored dict on these, so a key added in a later release reads as its
default until someone writes it.
"""

from __future__ import annotations

import copy
from typing import Any

SECTION_DEFAULTS: dict[str, dict[str, Any]] = {
    "node": {"node_id": "", "name": "", "exit_node": True, "hy2_user_auth": False},
    # enabled=False is the original's `server: null` (no hy2 server).
    "server": {"enabled": True, "listen": "0.0.0.0:5565", "password": "", "tls_cert": "", "tls_key": ""},
    "ui": {
        "listen": "",
        "base_path": "",
        "dns": "",
        "force_https": False,
        "https_cert_id": "",
        "session_timeout_h": 12,
        "max_nested_depth": 0,
        "max_response_nodes": 0,
        "max_cache_entries": 0,
        "max_response_bytes": 0,
        "max_fetch_fan_out": 0,
    },
    # Raw values, 0 = the resolver's own default (api.md §3.8).
    "dns_resolver": {
        "enabled": True,
        "cache_ttl": 0,
        "negative_ttl": 0,
        "cache_size": 0,
        "query_timeout_ms": 0,
    },
    "tun_mode": {"enabled": False, "mode": "mixed"},
    "shadowsocks": {"listen": "", "enabled": False, "method": "aes-256-gcm", "psk": ""},
    "l2tp": {
        "listen": "1701",
        "enabled": False,
        "pool": "192.168.25.1/24",
        "psk": "",
        "proxy_port": 12345,
        "mtu": 1280,
    },
    "ikev2": {
        "enabled": False,
        "mode": "mschapv2",
        "pool": "192.168.26.1/24",
        "cert_id": "",
        "psk": "",
        "local_id": "",
        "remote_id": "",
        "psk_user_mode": False,
        "default_exit": "",
        "default_exit_mode": "",
        "dns": "",
        "proxy_port": 12350,
        "mtu": 1400,
    },
    "wireguard": {
        "enabled": False,
        "listen_port": 51820,
        "private_key": "",
        "address": "10.0.0.1/24",
        "dns": "",
        "mtu": 1420,
    },
    # Map of node key -> {"x": float, "y": float}; replaced as a whole.
    "graph_layout": {},
    "relay_admin": {"passthrough": False},
}

SECTION_NAMES = frozenset(SECTION_DEFAULTS)


def section_default(name: str) -> dict[str, Any]:
    return copy.deepcopy(SECTION_DEFAULTS[name])
