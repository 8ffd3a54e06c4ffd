"""Models of build id/info, system arch and the port check (api.md §1.4, §3.10, §3.11)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from hy2scale.api.schemas.common import Body
from hy2scale.api.schemas_b.common import Port

MAX_PORTS = 100


class BuildId(BaseModel):
    build_id: str = Field(description="16 hex chars of sha256(index.html), or of the version without a UI")


class Dependency(BaseModel):
    path: str = Field(description="distribution name (key kept from the original's go_deps)")
    version: str
    license: str


class Native(BaseModel):
    name: str
    version: str
    license: str
    source: str


class BuildInfo(BaseModel):
    version: str
    license: str
    repository: str
    go_deps: list[Dependency] = Field(description="the Python distributions this node runs on")
    natives: list[Native]


class SystemArch(BaseModel):
    os: str
    arch: str
    version: str
    binary: str
    in_docker: bool
    python: str
    upgradable: bool = Field(description="POST /api/upgrade can install into this node's virtualenv")
    upgrade_reason: str = Field(description="why not, when upgradable is false")


class PortItem(Body):
    port: Port
    proto: Literal["tcp", "udp"] = "tcp"
    desc: str = Field("", max_length=200)


class PortsBody(Body):
    """The seed's ``{"ports": [5565, 1701]}`` or the original SPA's ``{"ports": [{port, proto, desc}]}``."""

    ports: Annotated[list[Port] | list[PortItem], Field(max_length=MAX_PORTS)]


PortCheckRequest = Annotated[list[PortItem], Field(max_length=MAX_PORTS)] | PortsBody


class PortCheckResult(BaseModel):
    conflicts: list[PortItem] = Field(description="the requested items that are busy")
    results: dict[str, bool] | None = Field(
        None, description="seed form only: port → free (true when both TCP and UDP bind)"
    )
