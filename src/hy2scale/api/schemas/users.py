"""Users of the node's services. Both the seed's and the original's field forms are accepted and returned:
``traffic_limit`` (bytes) / ``traffic_limit_gb``, ``expiry_date`` (YYYY-MM-DD) / ``expiry`` (RFC 3339)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field

from hy2scale.api.schemas.common import Body

GIB = 1 << 30
ProxyKey = Literal["hy2", "ss", "socks5", "http", "l2tp", "ikev2", "wireguard"]
USER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
# "|" separates the parts of a session key (user|ip|protocol), so it cannot appear in a username.
USERNAME_PATTERN = r"^[^\s|]{1,64}$"


def _date(value: str) -> str:
    if value:
        dt.date.fromisoformat(value)
    return value


def _rfc3339(value: str) -> str:
    if value:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        if parsed.tzinfo is None:
            raise ValueError("RFC 3339 time needs a zone (e.g. Z)")
    return value


ExpiryDate = Annotated[
    str,
    Field(pattern=r"^$|^\d{4}-\d{2}-\d{2}$", description="YYYY-MM-DD, empty = never"),
    AfterValidator(_date),
]
Expiry = Annotated[
    str, Field(max_length=40, description="RFC 3339 time, empty = never"), AfterValidator(_rfc3339)
]


class UserFields(Body):
    password: str = Field(min_length=1, max_length=256)
    proxy_passwords: dict[ProxyKey, Annotated[str, Field(max_length=256)]] = Field(
        default_factory=dict, description="per-protocol password override (hy2, ss)"
    )
    proxy_disabled: list[ProxyKey] = Field(
        default_factory=list, description="protocols this user may not use"
    )
    exit_via: str = Field(default="", max_length=1024)
    exit_paths: list[Annotated[str, Field(max_length=1024)]] = Field(default_factory=list, max_length=16)
    exit_mode: str = Field(default="", max_length=16, description="'' (failover), direct, quality, aggregate")
    traffic_limit: int | None = Field(
        default=None, ge=0, le=1 << 62, description="bytes, 0 = unlimited (wins)"
    )
    traffic_limit_gb: float | None = Field(default=None, ge=0, le=1 << 30, description="GiB, 0 = unlimited")
    expiry_date: ExpiryDate | None = None
    expiry: Expiry | None = Field(default=None, description="RFC 3339; expiry_date wins when both are sent")
    enabled: bool = True


class UserCreate(UserFields):
    id: str | None = Field(default=None, pattern=USER_ID_PATTERN, description="generated when absent")
    username: str = Field(pattern=USERNAME_PATTERN)


class UserUpdate(Body):
    """Partial update: only the keys sent change (an omitted password is kept)."""

    username: str | None = Field(default=None, pattern=USERNAME_PATTERN)
    password: str | None = Field(default=None, min_length=1, max_length=256)
    proxy_passwords: dict[ProxyKey, Annotated[str, Field(max_length=256)]] | None = None
    proxy_disabled: list[ProxyKey] | None = None
    exit_via: str | None = Field(default=None, max_length=1024)
    exit_paths: list[Annotated[str, Field(max_length=1024)]] | None = Field(default=None, max_length=16)
    exit_mode: str | None = Field(default=None, max_length=16)
    traffic_limit: int | None = Field(default=None, ge=0, le=1 << 62)
    traffic_limit_gb: float | None = Field(default=None, ge=0, le=1 << 30)
    expiry_date: ExpiryDate | None = None
    expiry: Expiry | None = None
    enabled: bool | None = None


class User(BaseModel):
    id: str
    username: str
    password: str
    proxy_passwords: dict[str, str] = Field(default_factory=dict)
    proxy_disabled: list[str] = Field(default_factory=list)
    exit_via: str = ""
    exit_paths: list[str] = Field(default_factory=list)
    exit_mode: str = ""
    traffic_limit: int = 0
    traffic_limit_gb: float = 0
    traffic_used: int = 0
    expiry_date: str = ""
    expiry: str = ""
    enabled: bool = False


class BulkAction(Body):
    action: Literal["enable", "disable", "delete", "reset-traffic", "set-exit"]
    ids: list[Annotated[str, Field(max_length=64)]] = Field(min_length=1, max_length=100_000)
    exit_via: str = Field(default="", max_length=1024, description="set-exit only")
    exit_paths: list[Annotated[str, Field(max_length=1024)]] = Field(default_factory=list, max_length=16)
    exit_mode: str = Field(default="", max_length=16)


class BulkResult(BaseModel):
    status: Literal["ok"] = "ok"
    count: int


Conflicts = dict[str, dict[str, list[str]]]
