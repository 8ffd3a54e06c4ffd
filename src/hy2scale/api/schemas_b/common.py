"""Validators shared by the half-B models: listen specs, CIDRs, exit routing."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field, model_validator

from hy2scale.api.schemas.common import Body

HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
# "direct" is the seed's name for the default failover mode (DESIGN §4.5).
EXIT_MODES = {"", "quality", "aggregate", "stability", "speed", "direct"}
# Cert ids: the file stem under <data>/tls/, so nothing that can leave that directory.
CERT_ID_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"


def parse_listen(spec: str) -> tuple[str, int]:
    """``host:port``, ``[v6]:port`` or ``:port`` (all interfaces) → (host, port); ValueError if bad."""
    spec = spec.strip()
    if spec.startswith("["):
        host, sep, port = spec[1:].partition("]:")
        if not sep:
            raise ValueError(f"invalid listen address {spec!r}")
        ipaddress.IPv6Address(host)
    else:
        host, sep, port = spec.rpartition(":")
        if not sep:
            raise ValueError(f"invalid listen address {spec!r} (want host:port)")
        # Digits and dots must be an IPv4 address; anything else a host name.
        numeric = bool(host) and host.replace(".", "").isdigit()
        if host and (numeric or not HOSTNAME.match(host)):
            try:
                ipaddress.IPv4Address(host)
            except ValueError:
                raise ValueError(f"invalid listen host {host!r}") from None
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"invalid port in {spec!r}")
    return host, int(port)


def _listen(value: str) -> str:
    parse_listen(value)
    return value.strip()


def cidr(value: str) -> str:
    try:
        ipaddress.ip_interface(value.strip())
    except ValueError:
        raise ValueError(f"invalid CIDR {value!r}") from None
    return value.strip()


def _ipv4_cidr(value: str) -> str:
    try:
        ipaddress.IPv4Interface(value.strip())
    except ValueError:
        raise ValueError(f"invalid IPv4 CIDR {value!r}") from None
    return value.strip()


ListenSpec = Annotated[str, AfterValidator(_listen)]
Cidr = Annotated[str, AfterValidator(cidr)]
Ipv4Cidr = Annotated[str, AfterValidator(_ipv4_cidr)]
Port = Annotated[int, Field(ge=1, le=65535)]
CertId = Annotated[str, Field(pattern=CERT_ID_PATTERN)]


class ExitFields(Body):
    """exit_via / exit_paths / exit_mode, synced the way every original handler syncs them."""

    exit_via: str = Field("", max_length=1024)
    exit_paths: list[Annotated[str, Field(max_length=1024)]] = Field(default_factory=list, max_length=16)
    exit_mode: str = Field("", max_length=16)

    @model_validator(mode="after")
    def _sync(self) -> ExitFields:
        if self.exit_mode not in EXIT_MODES:
            raise ValueError(f"exit_mode must be one of {sorted(EXIT_MODES - {''})} or empty")
        if self.exit_mode == "direct":
            self.exit_mode = ""
        self.exit_paths = [p for p in self.exit_paths if p]
        if self.exit_paths:
            self.exit_via = self.exit_paths[0]
        elif self.exit_via:
            self.exit_paths = [self.exit_via]
        if not self.exit_paths:
            self.exit_mode = ""
        if self.exit_mode in ("aggregate", "speed"):
            # Bonding splits one flow over several paths, so they must all end at the same node.
            ends = {p.rstrip("/").rsplit("/", 1)[-1] for p in self.exit_paths}
            if len(ends) > 1:
                raise ValueError("aggregate mode requires all paths to reach the same exit node")
        return self


class StatusNote(BaseModel):
    status: str = "ok"
    note: str = ""


def dump(model: BaseModel, **extra: Any) -> dict[str, Any]:
    return {**model.model_dump(), **extra}
