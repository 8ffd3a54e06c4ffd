"""What non-Hysteria visitors of the HTTP/3 server get: a 404 page, a proxied site, a
directory, or a fixed string."""

from __future__ import annotations

import asyncio
import mimetypes
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .config import MasqueradeConfig

NOT_FOUND_BODY = b"404 page not found\n"
MAX_PROXY_BODY = 16 * 1024 * 1024
_HOP_HEADERS = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "upgrade",
    "te",
    "trailer",
    "proxy-connection",
}


@dataclass
class Request:
    method: str
    authority: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes = b""


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def h3_headers(self) -> list[tuple[bytes, bytes]]:
        out = [(b":status", str(self.status).encode())]
        out += [(k.lower().encode(), v.encode()) for k, v in self.headers]
        out.append((b"content-length", str(len(self.body)).encode()))
        return out


def not_found() -> Response:
    return Response(
        404,
        [("content-type", "text/plain; charset=utf-8"), ("x-content-type-options", "nosniff")],
        NOT_FOUND_BODY,
    )


async def respond(config: MasqueradeConfig, request: Request) -> Response:
    if config.type == "proxy" and config.url:
        return await asyncio.to_thread(_proxy, config, request)
    if config.type == "file" and config.directory:
        return await asyncio.to_thread(_file, Path(config.directory), request)
    if config.type == "string":
        # 233 would read as a successful Hysteria auth, so it is never sent here.
        status = 200 if config.status == 233 else config.status
        return Response(status, list(config.headers.items()), config.content.encode())
    return not_found()


def _file(root: Path, request: Request) -> Response:
    if request.method not in ("GET", "HEAD"):
        return not_found()
    rel = request.path.split("?", 1)[0].lstrip("/")
    base = root.resolve()
    target = (base / rel).resolve()
    if target != base and base not in target.parents:
        return not_found()
    if target.is_dir():
        target = target / "index.html"
    if not target.is_file():
        return not_found()
    ctype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    body = target.read_bytes() if request.method == "GET" else b""
    return Response(200, [("content-type", ctype)], body)


def _proxy(config: MasqueradeConfig, request: Request) -> Response:
    # The visitor is anonymous and picks ``:path``: appended as is, "@evil:80/x" or ".evil/x" would
    # move the upstream host elsewhere (userinfo, a longer host name) — a server-side request forgery.
    if not request.path.startswith("/"):
        return not_found()
    url = config.url.rstrip("/") + request.path
    headers = {k: v for k, v in request.headers if k.lower() not in _HOP_HEADERS and not k.startswith(":")}
    if config.rewrite_host:
        headers.pop("host", None)
    else:
        headers["Host"] = request.authority
    req = urllib.request.Request(url, data=request.body or None, headers=headers, method=request.method)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return _from_upstream(resp.status, resp.headers.items(), resp.read(MAX_PROXY_BODY))
    except urllib.error.HTTPError as exc:
        return _from_upstream(exc.code, exc.headers.items(), exc.read(MAX_PROXY_BODY))
    except (OSError, ValueError):
        return Response(502, [("content-type", "text/plain; charset=utf-8")], b"Bad Gateway\n")


def _from_upstream(status: int, headers: list[tuple[str, str]], body: bytes) -> Response:
    kept = [(k, v) for k, v in headers if k.lower() not in _HOP_HEADERS and k.lower() != "content-length"]
    # An upstream 233 would read as a successful Hysteria auth.
    return Response(502 if status == 233 else status, kept, body)
