"""Models of GET/PUT /api/settings/ui (api.md §3.8)."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field

from hy2scale.api.schemas.common import Body
from hy2scale.api.schemas_b.common import HOSTNAME, CertId, ListenSpec, Port

# Nested-discovery limits: (default, cap) — 0 or less means the default, above the cap means the cap.
LIMITS = {
    "max_nested_depth": (5, 10),
    "max_response_nodes": (1024, 65536),
    "max_cache_entries": (5000, 100000),
    "max_response_bytes": (1 << 20, 16 << 20),
    "max_fetch_fan_out": (8, 64),
}
DEFAULT_DNS = "1.1.1.1,8.8.8.8"
BASE_PATH = re.compile(r"^(/[A-Za-z0-9._~-]+)*/?$")


def _dns(value: str) -> str:
    """Comma list of ``ip``, ``ip:port``, ``[v6]:port`` or host names (port 53 implied)."""
    entries = [e.strip() for e in value.split(",") if e.strip()]
    for entry in entries:
        host, port = entry, "53"
        if entry.startswith("["):
            host, _, port = entry[1:].partition("]:")
        elif entry.count(":") == 1:
            host, port = entry.split(":")
        if not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ValueError(f"invalid DNS server {entry!r}")
        try:
            ipaddress.ip_address(host)
        except ValueError:
            if not HOSTNAME.match(host):
                raise ValueError(f"invalid DNS server {entry!r}") from None
    return ",".join(entries)


def _base_path(value: str) -> str:
    if not BASE_PATH.match(value):
        raise ValueError("base_path must look like /scale (letters, digits, . _ ~ -)")
    return value


DnsList = Annotated[str, AfterValidator(_dns)]
BasePath = Annotated[str, AfterValidator(_base_path)]
NonNegative = Annotated[int, Field(ge=0, le=1 << 30)]


class UiSettings(BaseModel):
    listen: str = Field(description="the running UI/API listen address")
    port: int = Field(description="the running UI/API port")
    base_path: str = Field(description="the running base path")
    configured_listen: str = Field(description="stored value used at the next start ('' = default)")
    configured_base_path: str
    restart_pending: bool = Field(description="stored listen/base path differ from the running ones")
    dns: str
    force_https: bool
    https_cert_id: str
    session_timeout_h: int
    max_nested_depth: int
    max_response_nodes: int
    max_cache_entries: int
    max_response_bytes: int
    max_fetch_fan_out: int
    relay_admin_passthrough: bool
    dns_resolver_enabled: bool
    dns_resolver_cache_ttl: int
    dns_resolver_negative_ttl: int
    dns_resolver_cache_size: int
    dns_resolver_query_timeout_ms: int


class UiSettingsSaved(UiSettings):
    status: str = "ok"
    note: str


class UiSettingsIn(Body):
    """Every key optional: only the keys present change."""

    listen: ListenSpec | None = None
    port: Port | None = Field(
        None, description="shorthand: keep the host, change the port (ignored with listen)"
    )
    base_path: BasePath | None = None
    dns: DnsList | None = None
    force_https: bool | None = None
    https_cert_id: CertId | Literal[""] | None = Field(None, description="'' clears it")
    session_timeout_h: Annotated[int, Field(ge=1, le=8760)] | None = None
    max_nested_depth: NonNegative | None = None
    max_response_nodes: NonNegative | None = None
    max_cache_entries: NonNegative | None = None
    max_response_bytes: NonNegative | None = None
    max_fetch_fan_out: NonNegative | None = None
    relay_admin_passthrough: bool | None = None
    dns_resolver_enabled: bool | None = None
    dns_resolver_cache_ttl: NonNegative | None = None
    dns_resolver_negative_ttl: NonNegative | None = None
    dns_resolver_cache_size: NonNegative | None = None
    dns_resolver_query_timeout_ms: NonNegative | None = None
