"""Outbound peers ("clients"): the hy2 links this node keeps to other nodes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from hy2scale.api.schemas.common import Body, NodeName

BbrProfile = Literal["", "standard", "conservative", "aggressive"]
# qh3 is a much faster QUIC client (native core) without Brutal: a negotiated bandwidth is ignored.
QuicBackend = Literal["aioquic", "qh3"]
Window = Field(default=0, ge=0, le=1 << 30, description="QUIC window in bytes, 0 = default")


class ClientFields(BaseModel):
    addr: str = Field(max_length=512, description="primary address host:portspec")
    addrs: list[str] = Field(default_factory=list, max_length=32, description="all addresses, primary first")
    password: str = Field(min_length=1, max_length=256, description="the remote node's hy2 server password")
    sni: str = Field(default="", max_length=253)
    insecure: bool = False
    ca: str = Field(default="", max_length=65536, description="PEM or file path")
    max_tx: int = Field(default=0, ge=0, description="bytes/s, 0 = unlimited")
    max_rx: int = Field(default=0, ge=0, description="bytes/s, 0 = unlimited")
    init_stream_window: int = Window
    max_stream_window: int = Window
    init_conn_window: int = Window
    max_conn_window: int = Window
    fast_open: bool = False
    bbr_profile: BbrProfile = ""
    quic_backend: QuicBackend = Field(default="aioquic", description="QUIC stack of this link's client")
    disabled: bool = False


class Client(ClientFields):
    name: NodeName


class ClientCreate(Client, Body):
    pass


class ClientUpdate(Body):
    """Partial update; a new ``name`` renames the client."""

    name: NodeName | None = None
    addr: str | None = Field(default=None, max_length=512)
    addrs: list[str] | None = Field(default=None, max_length=32)
    password: str | None = Field(default=None, min_length=1, max_length=256)
    sni: str | None = Field(default=None, max_length=253)
    insecure: bool | None = None
    ca: str | None = Field(default=None, max_length=65536)
    max_tx: int | None = Field(default=None, ge=0)
    max_rx: int | None = Field(default=None, ge=0)
    init_stream_window: int | None = Field(default=None, ge=0, le=1 << 30)
    max_stream_window: int | None = Field(default=None, ge=0, le=1 << 30)
    init_conn_window: int | None = Field(default=None, ge=0, le=1 << 30)
    max_conn_window: int | None = Field(default=None, ge=0, le=1 << 30)
    fast_open: bool | None = None
    bbr_profile: BbrProfile | None = None
    quic_backend: QuicBackend | None = None
    disabled: bool | None = None


class ClientView(Client):
    connected: bool = False


class ClientImport(Body):
    url: str = Field(min_length=1, max_length=4096, description="hysteria2:// or hy2:// share link")
    name: NodeName | None = Field(default=None, description="default: the link's #fragment")
