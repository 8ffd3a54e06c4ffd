"""HTTP/1.x proxy message heads, sans-IO: parse a head, strip hop-by-hop headers, decide body framing."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from urllib.parse import urlsplit

MAX_HEAD = 64 * 1024

# RFC 9110 §7.6.1 plus the de-facto Proxy-Connection and Keep-Alive. Transfer-Encoding is kept:
# bodies are relayed as they are, chunked or not.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
    }
)


class HttpError(ValueError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Head:
    """A request (``method target version``) or a response (``version status reason``) head."""

    start: tuple[str, str, str]
    headers: list[tuple[str, str]] = field(default_factory=list)

    def get(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None

    def tokens(self, name: str) -> set[str]:
        return {
            t.strip().lower() for key, value in self.headers if key.lower() == name for t in value.split(",")
        }

    def without_hop_by_hop(self) -> list[tuple[str, str]]:
        named = self.tokens("connection") | self.tokens("proxy-connection")
        return [(k, v) for k, v in self.headers if k.lower() not in HOP_BY_HOP and k.lower() not in named]

    def serialize(self, start: tuple[str, str, str], headers: list[tuple[str, str]]) -> bytes:
        lines = [" ".join(start)] + [f"{k}: {v}" for k, v in headers]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def parse_head(buf: bytes) -> tuple[Head, int] | None:
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        if len(buf) > MAX_HEAD:
            raise HttpError(431, "head too large")
        return None
    lines = buf[:end].decode("latin-1").split("\r\n")
    start = lines[0].split(" ", 2)
    if len(start) < 2:
        raise HttpError(400, "bad start line")
    while len(start) < 3:
        start.append("")
    headers = []
    for line in lines[1:]:
        key, sep, value = line.partition(":")
        if not sep or not key or key != key.strip():
            raise HttpError(400, "bad header line")
        headers.append((key, value.strip()))
    return Head((start[0], start[1], start[2]), headers), end + 4


def request_target(head: Head) -> tuple[str, int, str]:
    """(host, port, origin-form path) of an absolute-form request, or the authority of a CONNECT."""
    method, target, _ = head.start
    if method.upper() == "CONNECT":
        host, port = split_authority(target, 443)
        return host, port, ""
    parts = urlsplit(target)
    if parts.scheme.lower() != "http" or not parts.hostname:
        raise HttpError(400, "absolute http:// URI required")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return parts.hostname, parts.port or 80, path


def split_authority(authority: str, default_port: int) -> tuple[str, int]:
    if authority.startswith("["):
        host, _, rest = authority[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port = authority.rpartition(":") if authority.count(":") == 1 else (authority, "", "")
    if not host:
        raise HttpError(400, "bad authority")
    try:
        return host, int(port) if port else default_port
    except ValueError:
        raise HttpError(400, "bad port") from None


def basic_credentials(head: Head) -> tuple[str, str] | None:
    value = head.get("proxy-authorization")
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "basic":
        raise HttpError(400, "unsupported proxy authorization")
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise HttpError(400, "bad proxy authorization") from None
    user, sep, password = decoded.partition(":")
    if not sep:
        raise HttpError(400, "bad proxy authorization")
    return user, password


# Body framing: ("none"), ("length", n), ("chunked"), ("close") — RFC 9112 §6.3.
Framing = tuple[str, int]


def request_framing(head: Head) -> Framing:
    if "chunked" in head.tokens("transfer-encoding"):
        return ("chunked", 0)
    length = head.get("content-length")
    if length is None:
        return ("none", 0)
    return ("length", _length(length))


def response_framing(head: Head, request_method: str) -> Framing:
    status = int(head.start[1]) if head.start[1].isdigit() else 0
    if request_method.upper() == "HEAD" or 100 <= status < 200 or status in (204, 304):
        return ("none", 0)
    if "chunked" in head.tokens("transfer-encoding"):
        return ("chunked", 0)
    length = head.get("content-length")
    if length is not None:
        return ("length", _length(length))
    return ("close", 0)


def _length(value: str) -> int:
    if not value.strip().isdigit():
        raise HttpError(400, "bad content-length")
    return int(value)


def parse_chunk_size(buf: bytes) -> tuple[int, int] | None:
    """Size of the next chunk and the length of its size line (extensions ignored)."""
    end = buf.find(b"\r\n")
    if end < 0:
        if len(buf) > 4096:
            raise HttpError(400, "bad chunk")
        return None
    digits = buf[:end].split(b";", 1)[0].strip()
    # int(…, 16) also takes "-5", "+5", "0x5" and "_": a negative size would be relayed to the origin
    # as is and desynchronise our framing from its (request smuggling), so only hex digits pass.
    if not digits or digits.strip(b"0123456789abcdefABCDEF"):
        raise HttpError(400, "bad chunk size")
    return int(digits, 16), end + 2


def wants_close(head: Head) -> bool:
    tokens = head.tokens("connection") | head.tokens("proxy-connection")
    if head.start[2].upper() == "HTTP/1.0" or head.start[0].upper() == "HTTP/1.0":
        return "keep-alive" not in tokens
    return "close" in tokens


def simple_response(
    status: int, reason: str, extra: list[tuple[str, str]] | None = None, close: bool = True
) -> bytes:
    body = f"{status} {reason}\n".encode()
    headers = [*(extra or []), ("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
    if close:
        headers.append(("Connection", "close"))
    lines = [f"HTTP/1.1 {status} {reason}"] + [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
