"""Models of the inbound service endpoints: proxies, Shadowsocks, L2TP, IKEv2, WireGuard."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, model_validator

from hy2scale import keygen
from hy2scale.api.schemas.common import Body
from hy2scale.api.schemas_b.common import CertId, Cidr, ExitFields, Ipv4Cidr, ListenSpec, Port, cidr

PROXY_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
WG_PEER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,62}$"
SS_METHODS = Literal[
    "aes-128-gcm",
    "aes-256-gcm",
    "chacha20-ietf-poly1305",
    "2022-blake3-aes-128-gcm",
    "2022-blake3-aes-256-gcm",
    "2022-blake3-chacha20-poly1305",
]


def _wg_key(value: str) -> str:
    try:
        raw = base64.b64decode(value, validate=True)
    except binascii.Error:
        raise ValueError("key is not base64") from None
    if len(raw) != 32:
        raise ValueError("a WireGuard key is 32 bytes (44 base64 characters)")
    return value


def _allowed_ips(value: str) -> str:
    parts = [p.strip() for p in value.split(",") if p.strip()]
    if not parts:
        raise ValueError("allowed_ips must name at least one CIDR")
    return ", ".join(cidr(p) for p in parts)


WgKey = Annotated[str, AfterValidator(_wg_key)]
AllowedIps = Annotated[str, AfterValidator(_allowed_ips)]


# --- SOCKS5 / HTTP -------------------------------------------------------------------------------


class ProxyIn(ExitFields):
    id: Annotated[str, Field(pattern=PROXY_ID_PATTERN)] | Literal[""] = ""
    protocol: Literal["socks5", "http"] = "socks5"
    listen: ListenSpec
    enabled: bool = False
    tls_cert: CertId | Literal[""] = ""
    # An open proxy only when the operator asks for it explicitly.
    no_auth: bool = False


class RunState(BaseModel):
    """Live state from the service manager: ``error`` says why an enabled service is not running."""

    running: bool = False
    error: str = ""


class Proxy(RunState):
    id: str
    protocol: str
    listen: str
    enabled: bool
    tls_cert: str = ""
    no_auth: bool = False
    exit_via: str = ""
    exit_paths: list[str] = Field(default_factory=list)
    exit_mode: str = ""


# --- Shadowsocks ---------------------------------------------------------------------------------


class ShadowsocksIn(Body):
    listen: ListenSpec | Literal[""] = ""
    enabled: bool = False
    method: SS_METHODS = "aes-256-gcm"
    # SIP022 server identity PSK (base64 of the method's key length); empty derives it from the
    # node's server password.
    psk: str = ""

    @model_validator(mode="after")
    def _listen_when_enabled(self) -> ShadowsocksIn:
        if self.enabled and not self.listen:
            raise ValueError("listen is required when enabled")
        if self.psk:
            if not self.method.startswith("2022-"):
                raise ValueError("psk applies to the 2022-blake3 methods only")
            key_len = 16 if "aes-128" in self.method else 32
            try:
                key = base64.b64decode(self.psk, validate=True)
            except (binascii.Error, ValueError):
                raise ValueError("psk must be base64") from None
            if len(key) != key_len:
                raise ValueError(f"psk must decode to {key_len} bytes for {self.method}")
        return self


class Shadowsocks(RunState):
    listen: str
    enabled: bool
    method: str
    psk: str = ""


# --- L2TP / IKEv2 --------------------------------------------------------------------------------


class Capability(BaseModel):
    capable: bool
    host_network: bool
    reason: str


class L2tpIn(Body):
    listen: Annotated[str, Field(pattern=r"^\d{1,5}$")] = "1701"
    enabled: bool = False
    pool: Ipv4Cidr = "192.168.25.1/24"
    psk: str = ""
    proxy_port: Annotated[int, Field(ge=0, le=65535)] = 12345
    mtu: Annotated[int, Field(ge=576, le=9000)] = 1280

    @model_validator(mode="after")
    def _check(self) -> L2tpIn:
        if not 1 <= int(self.listen) <= 65535:
            raise ValueError("listen must be a UDP port 1-65535")
        if self.enabled and not self.psk:
            raise ValueError("psk is required when enabled")
        if self.proxy_port == 0:
            self.proxy_port = 12345
        return self


class L2tp(Capability):
    listen: str
    enabled: bool
    pool: str
    psk: str
    proxy_port: int
    mtu: int


class Ikev2In(Body):
    enabled: bool = False
    mode: Literal["mschapv2", "psk"] = "mschapv2"
    pool: Ipv4Cidr = "192.168.26.1/24"
    cert_id: CertId | Literal[""] = ""
    psk: str = ""
    local_id: str = ""
    remote_id: str = ""
    psk_user_mode: bool = False
    default_exit: str = ""
    default_exit_paths: list[str] = Field(default_factory=list)
    default_exit_mode: str = ""
    dns: str = ""
    proxy_port: Annotated[int, Field(ge=0, le=65535)] = 12350
    mtu: Annotated[int, Field(ge=576, le=9000)] = 1400

    @model_validator(mode="after")
    def _check(self) -> Ikev2In:
        exits = ExitFields(
            exit_via=self.default_exit, exit_paths=self.default_exit_paths, exit_mode=self.default_exit_mode
        )
        self.default_exit, self.default_exit_paths, self.default_exit_mode = (
            exits.exit_via,
            exits.exit_paths,
            exits.exit_mode,
        )
        if self.enabled and self.mode == "psk" and not self.psk:
            raise ValueError("psk is required in psk mode")
        if self.enabled and self.mode == "mschapv2" and not self.cert_id:
            raise ValueError("cert_id (a CA with its key) is required in mschapv2 mode")
        if self.proxy_port == 0:
            self.proxy_port = 12350
        return self


class Ikev2(Capability):
    enabled: bool
    mode: str
    pool: str
    cert_id: str
    psk: str
    local_id: str
    remote_id: str
    psk_user_mode: bool
    default_exit: str
    default_exit_paths: list[str]
    default_exit_mode: str
    dns: str
    proxy_port: int
    mtu: int


# --- WireGuard -----------------------------------------------------------------------------------


class WgPeerIn(ExitFields):
    name: Annotated[str, Field(pattern=WG_PEER_PATTERN)] | Literal[""] = ""
    public_key: WgKey
    private_key: WgKey | Literal[""] = ""
    allowed_ips: AllowedIps
    keepalive: Annotated[int, Field(ge=0, le=65535)] = 0

    @model_validator(mode="after")
    def _keys_match(self) -> WgPeerIn:
        if self.private_key and keygen.wg_public_key(self.private_key) != self.public_key:
            raise ValueError("private_key does not belong to public_key")
        return self


class WgPeer(BaseModel):
    name: str
    public_key: str
    private_key: str = ""
    allowed_ips: str
    keepalive: int = 0
    exit_via: str = ""
    exit_paths: list[str] = Field(default_factory=list)
    exit_mode: str = ""


class WireGuardIn(Body):
    enabled: bool = False
    listen_port: Port = 51820
    private_key: WgKey | Literal[""] = Field("", description="empty keeps the current key")
    address: Cidr = "10.0.0.1/24"
    dns: str = ""
    mtu: Annotated[int, Field(ge=1280, le=9000)] = 1420
    peers: list[WgPeerIn] | None = Field(None, description="when given, replaces every peer")


class WireGuard(BaseModel):
    running: bool
    connected: int
    enabled: bool
    listen_port: int
    private_key: str
    public_key: str
    address: str
    dns: str
    mtu: int
    peers: list[WgPeer]


class KeyPair(BaseModel):
    private_key: str
    public_key: str
