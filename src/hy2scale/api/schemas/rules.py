"""Routing rules (ip/domain targets → exit path) and the global TUN mode."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from hy2scale.api.schemas.common import Body

RULE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
Target = Annotated[str, Field(min_length=1, max_length=253)]


class RuleFields(Body):
    name: str = Field(default="", max_length=128)
    type: Literal["ip", "domain"] = "ip"
    targets: list[Target] = Field(
        min_length=1, max_length=4096, description="IPs, CIDRs, a-b ranges or domains"
    )
    exit_via: str = Field(default="", max_length=1024)
    exit_paths: list[Annotated[str, Field(max_length=1024)]] = Field(default_factory=list, max_length=16)
    exit_mode: str = Field(default="", max_length=16)
    enabled: bool = True
    priority: int = Field(default=0, ge=-1_000_000, le=1_000_000, description="higher wins on overlap")
    use_tun: bool = False


class RuleCreate(RuleFields):
    id: str = Field(pattern=RULE_ID_PATTERN)


class RuleUpdate(Body):
    """Partial update: only the keys sent change."""

    name: str | None = Field(default=None, max_length=128)
    type: Literal["ip", "domain"] | None = None
    targets: list[Target] | None = Field(default=None, min_length=1, max_length=4096)
    exit_via: str | None = Field(default=None, max_length=1024)
    exit_paths: list[Annotated[str, Field(max_length=1024)]] | None = Field(default=None, max_length=16)
    exit_mode: str | None = Field(default=None, max_length=16)
    enabled: bool | None = None
    priority: int | None = Field(default=None, ge=-1_000_000, le=1_000_000)
    use_tun: bool | None = None


class Rule(BaseModel):
    id: str
    name: str = ""
    type: Literal["ip", "domain"]
    targets: list[str]
    exit_via: str = ""
    exit_paths: list[str] = Field(default_factory=list)
    exit_mode: str = ""
    enabled: bool = False
    priority: int = 0
    use_tun: bool = False
    tun_active: bool = False


class RuleList(BaseModel):
    available: bool = Field(description="the rule engine can capture traffic on this host")
    rules: list[Rule]


class TunMode(Body):
    enabled: bool
    mode: Literal["mixed", "full"] = "mixed"
