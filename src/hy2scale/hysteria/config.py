"""Configuration of the Hysteria 2 server and client."""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_STREAM_WINDOW = 8 * 1024 * 1024
DEFAULT_CONN_WINDOW = 20 * 1024 * 1024


@dataclass
class MasqueradeConfig:
    """What an unauthenticated visitor sees.

    ``type``: ``"404"`` (Go-style plain 404 page), ``"proxy"`` (reverse proxy to ``url``),
    ``"file"`` (serve ``directory``) or ``"string"`` (``content`` with ``status``/``headers``).
    """

    type: str = "404"
    url: str = ""
    rewrite_host: bool = False
    directory: str = ""
    content: str = ""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class ServerConfig:
    """``listen`` is ``host:portspec`` where portspec is a port, a range or a union
    (``0.0.0.0:443``, ``:20000-30000``, ``[::]:5565,6000``); every port is bound.

    ``cert``/``key`` are file paths or PEM text. ``max_tx``/``max_rx`` are bytes/s (0 = unknown).
    """

    listen: str = "0.0.0.0:443"
    cert: str = ""
    key: str = ""
    obfs_password: str = ""
    max_tx: int = 0
    max_rx: int = 0
    ignore_client_bandwidth: bool = False
    masquerade: MasqueradeConfig = field(default_factory=MasqueradeConfig)
    udp: bool = True
    idle_timeout: float = 30.0
    udp_idle_timeout: float = 60.0
    congestion: str = "cubic"
    stream_window: int = DEFAULT_STREAM_WINDOW
    conn_window: int = DEFAULT_CONN_WINDOW
    max_incoming_streams: int = 1024


@dataclass
class ClientConfig:
    """``ports`` is a port, range or union; more than one port turns port hopping on.

    ``password`` is the auth string (``user:pass`` for userpass servers). ``ca`` is a CA file path
    or PEM text. ``pin_sha256`` is the hex SHA-256 of the server leaf certificate (``:``/``-``
    separators allowed); a pin replaces CA verification.
    ``omit_datagram_tp`` leaves out max_datagram_frame_size like official clients >= 2.8.2.
    ``backend`` is the QUIC stack: ``"aioquic"`` (complete) or ``"qh3"`` (several times faster,
    native congestion control only: no Brutal, see :mod:`hy2scale.hysteria.qh3conn`).
    """

    server: str = "127.0.0.1"
    ports: str | int = 443
    password: str = ""
    sni: str = ""
    insecure: bool = False
    ca: str = ""
    pin_sha256: str = ""
    obfs_password: str = ""
    max_tx: int = 0
    max_rx: int = 0
    hop_interval: float = 30.0
    idle_timeout: float = 30.0
    keepalive: float = 10.0
    connect_timeout: float = 10.0
    congestion: str = "cubic"
    stream_window: int = DEFAULT_STREAM_WINDOW
    conn_window: int = DEFAULT_CONN_WINDOW
    omit_datagram_tp: bool = False
    backend: str = "aioquic"
