"""This node's identity and hy2 server, live stats, topology and peers."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from hy2scale.api.schemas.common import Body, NodeName


class ServerInfo(BaseModel):
    listen: str = Field(description="the listen in use (a --hy2-listen flag beats the stored value)")
    listen_configured: str = Field(default="", description="the stored listen (PUT /api/node)")
    password: str
    tls_cert: str
    tls_key: str


class NodeInfo(BaseModel):
    node_id: str
    name: str
    exit_node: bool
    hy2_user_auth: bool
    compat: bool = Field(description="capability present but the packet filter is unusable")
    limited: bool = Field(description="NET_ADMIN/TUN capability missing")
    server: ServerInfo | None = Field(description="null when the hy2 server is disabled")
    version: str
    active_paths: dict[str, str] = Field(description="exit_via -> path that won the last race")


class ServerUpdate(Body):
    listen: str = Field(default="", max_length=256)
    password: str = Field(default="", max_length=256)
    tls_cert: str = Field(default="", max_length=1024)
    tls_key: str = Field(default="", max_length=1024)


class NodeUpdate(Body):
    """Partial update: only the keys present change. ``server`` is replaced as a whole;
    ``{"listen": "", "password": ""}`` disables the hy2 server."""

    node_id: NodeName | None = None
    name: NodeName | None = None
    exit_node: bool | None = None
    hy2_user_auth: bool | None = None
    server: ServerUpdate | None = None


class ShareUrl(BaseModel):
    url: str


class Stats(BaseModel):
    tx_bytes: int = 0
    rx_bytes: int = 0
    tx_rate: int = 0
    rx_rate: int = 0
    conns: int = 0
    exit_clients: int = 0


class TopologyNode(BaseModel):
    """One node of the mesh tree as the UI draws it; the relay may add keys (they pass through)."""

    model_config = ConfigDict(extra="allow")

    name: str
    direction: str
    connected: bool = False
    latency_ms: int | None = -1
    exit_node: bool = False
    disabled: bool = False
    nested: bool = False
    tx_rate: int = 0
    rx_rate: int = 0
    addr: str | None = None
    addrs: list[str] | None = None
    is_self: bool | None = None
    max_rate: int | None = None
    children: list[TopologyNode] | None = None


class PeerInfo(BaseModel):
    """A direct (or, under /peers/{path}/peers, a remote) peer; extra relay keys pass through."""

    model_config = ConfigDict(extra="allow")

    name: str
    direction: str = "outbound"
    exit_node: bool = False
    connected: bool = False
    nested: bool = False
    disabled: bool = False
    latency_ms: int | None = -1
