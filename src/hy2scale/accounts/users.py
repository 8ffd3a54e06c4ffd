"""The user record as the services see it, parsed once from the store's JSON shape."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

# Proxies that identify a user by password alone (no username on the wire).
PASSWORD_ONLY = ("hy2", "ss")


def _parse_expiry(raw: dict[str, Any]) -> dt.date | None:
    """`expiry_date` (YYYY-MM-DD) or the seed's RFC 3339 `expiry`; anything unparsable never expires."""
    text = str(raw.get("expiry_date") or raw.get("expiry") or "").strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        return None


@dataclass(frozen=True)
class User:
    id: str
    username: str
    password: str
    enabled: bool = False
    proxy_passwords: dict[str, str] = field(default_factory=dict)
    proxy_disabled: frozenset[str] = frozenset()
    expiry: dt.date | None = None
    traffic_limit: int = 0
    traffic_used: int = 0
    exit_via: str = ""
    exit_paths: tuple[str, ...] = ()
    exit_mode: str = ""

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> User:
        return cls(
            id=str(raw.get("id", "")),
            username=str(raw.get("username", "")),
            password=str(raw.get("password", "")),
            enabled=bool(raw.get("enabled", False)),
            proxy_passwords={str(k): str(v) for k, v in (raw.get("proxy_passwords") or {}).items() if v},
            proxy_disabled=frozenset(str(p) for p in raw.get("proxy_disabled") or ()),
            expiry=_parse_expiry(raw),
            traffic_limit=int(raw.get("traffic_limit") or 0),
            traffic_used=int(raw.get("traffic_used") or 0),
            exit_via=str(raw.get("exit_via") or ""),
            exit_paths=tuple(str(p) for p in raw.get("exit_paths") or () if p),
            exit_mode=str(raw.get("exit_mode") or ""),
        )

    def effective_password(self, proxy: str) -> str:
        """Per-proxy override for the password-only proxies, else the main password."""
        if proxy in PASSWORD_ONLY:
            return self.proxy_passwords.get(proxy) or self.password
        return self.password

    def allows(self, proxy: str) -> bool:
        return proxy not in self.proxy_disabled

    def expired(self, now: dt.datetime) -> bool:
        """Rejected from 00:00 UTC of the expiry day on."""
        return self.expiry is not None and now.astimezone(dt.UTC).date() >= self.expiry

    def credentials(self) -> tuple[object, ...]:
        """Fields whose change must end the user's live sessions."""
        return (
            self.username,
            self.password,
            tuple(sorted(self.proxy_passwords.items())),
            self.proxy_disabled,
        )
