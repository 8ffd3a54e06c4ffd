"""Hysteria 2 on aioquic: server, client, codec, Salamander, Brutal, share URIs.

Imports nothing else from hy2scale. Streams returned by :meth:`TcpRequest.accept` and
:meth:`Hy2Client.tcp` have the ``ByteStream`` shape (read/readexactly/write/drain/write_eof/
close/wait_closed).
"""

from .client import Hy2Client
from .codec import Defragger, UdpMessage, fragment, parse_udp_message
from .config import ClientConfig, MasqueradeConfig, ServerConfig
from .errors import AuthError, ClosedError, ConnectError, DialError, Hy2Error, ParseError
from .ports import format_ports, parse_ports
from .salamander import Salamander
from .server import Hy2Server, ServerHandler, TcpRequest
from .stream import Hy2Stream
from .udp import UdpOutbound, UdpSession
from .uri import ShareLink, build_uri, parse_uri

__all__ = [
    "AuthError",
    "ClientConfig",
    "ClosedError",
    "ConnectError",
    "Defragger",
    "DialError",
    "Hy2Client",
    "Hy2Error",
    "Hy2Server",
    "Hy2Stream",
    "MasqueradeConfig",
    "ParseError",
    "Salamander",
    "ServerConfig",
    "ServerHandler",
    "ShareLink",
    "TcpRequest",
    "UdpMessage",
    "UdpOutbound",
    "UdpSession",
    "build_uri",
    "format_ports",
    "fragment",
    "parse_ports",
    "parse_udp_message",
    "parse_uri",
]
