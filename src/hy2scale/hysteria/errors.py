"""Exceptions raised by the Hysteria 2 library."""

from __future__ import annotations


class Hy2Error(Exception):
    """Base class of every error this library raises on purpose."""


class ParseError(Hy2Error):
    """Bytes on the wire (or a URI/port spec) do not follow the Hysteria 2 format."""


class ConnectError(Hy2Error):
    """The QUIC connection could not be established (timeout, TLS, network)."""


class AuthError(Hy2Error):
    """The server did not answer the auth request with status 233."""

    def __init__(self, status: int, message: str = "") -> None:
        super().__init__(message or f"authentication failed, HTTP status {status}")
        self.status = status


class DialError(Hy2Error):
    """The server refused a TCP request; ``message`` is the server's reason."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ClosedError(Hy2Error):
    """The connection is closed (or was never opened)."""
