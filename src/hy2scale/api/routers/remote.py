"""Managing a peer through the relay: ``ANY {base}/remote/{chain}/{rest}`` (api.md §3.14).

API requests are forwarded over a ``_relay_api_`` stream (``node.relay.open_api(chain)``) as
HTTP/1.1 to the peer's ``/scale/api/…``; the reply streams back (SSE works). Page requests get our
own UI with ``window.__BASE__`` pointed at this proxy, so its API calls come back through it.

Unlike the original, the proxy needs a local admin: the relay stream may carry our server password's
"system" identity, which the peer can trust for admin passthrough, so an anonymous visitor must not
reach it. The browser's ``Authorization`` header belongs to the remote node (the remote SPA keeps its
own token), so local auth is an HttpOnly cookie scoped to ``{base}/remote/{chain}/``, set once from
``?token=<local token>``.

Also unlike the original, only the peer's API crosses the tunnel. The pages are our own UI bundle
pointed at the proxied API: a peer's HTML or script on this origin could read this node's admin
token. Proxied responses are sandboxed (CSP) and may not set cookies here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

import h11
from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse, StreamingResponse

from hy2scale.api.deps import ApiError, get_auth, get_node
from hy2scale.api.ui import proxied_ui
from hy2scale.api.validation import NAME_RE
from hy2scale.relay.api_tunnel import next_h11_event
from hy2scale.streams import ByteStream

log = logging.getLogger("hy2scale.api.remote")

sub_router = APIRouter(tags=["remote"])

REMOTE_BASE = "/scale"  # a remote node is reached at its default base path, as the original does
COOKIE = "hy2scale_remote"
PROXY_HEADER = "x-hy2scale-proxy"
DIAL_TIMEOUT = 15.0
HEAD_TIMEOUT = 60.0  # the remote's answer may be slow to start; its body (SSE) may last for hours
# Segments that end the chain: the SPA's own routes and files under the remote base.
RESERVED = frozenset(
    {"api", "login", "nodes", "proxies", "tls", "settings", "remote", "scale", "users", "rules", "assets"}
)
HOP_BY_HOP = frozenset(
    {
        "connection",
        "proxy-connection",
        "keep-alive",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
# Request headers we set ourselves; accept-encoding is dropped so an HTML page arrives uncompressed.
_REQUEST_DROP = HOP_BY_HOP | {"host", "content-length", "accept-encoding", PROXY_HEADER}
_RESPONSE_DROP = HOP_BY_HOP | {"content-length", "set-cookie", "content-security-policy"}
# Whatever a peer answers, a browser must not run it as a page of this origin.
_RESPONSE_HARDENING = [(b"content-security-policy", b"sandbox"), (b"x-content-type-options", b"nosniff")]
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@dataclass(frozen=True)
class Target:
    chain: str  # "b" or "b/c"
    path: str  # the remote path, still percent-encoded: "/scale/api/peers/us%2Fx/nested"


def parse_target(raw_rest: str) -> Target:
    """Splits what follows ``/remote/`` into the peer chain and the remote path; raises ApiError(400)."""
    rest = raw_rest.strip("/")
    if not rest:
        raise ApiError(400, "usage: /remote/{peer}/{path}")
    segments = rest.split("/")
    hops: list[str] = []
    for segment in segments:
        if not segment or "." in segment or segment in RESERVED:
            break
        hops.append(segment)
    if not hops:
        raise ApiError(400, "missing peer chain")
    for hop in hops:
        if not NAME_RE.match(hop):
            raise ApiError(400, f"invalid peer name {hop!r}")
    remainder = segments[len(hops) :]
    if remainder and remainder[0] == "scale":
        remainder = remainder[1:]
    tail = "/".join(remainder)
    if raw_rest.endswith("/") and tail:
        tail += "/"
    return Target("/".join(hops), f"{REMOTE_BASE}/{tail}")


def rewrite_location(location: str, prefix: str) -> str:
    """A redirect to the remote's ``/scale/…`` stays inside the proxy."""
    if location.startswith(f"{REMOTE_BASE}/"):
        return f"{prefix}/{location[len(REMOTE_BASE) + 1 :]}"
    return location


def _forward_headers(request: Request) -> list[tuple[str, str]]:
    named_hops = {h.strip().lower() for h in request.headers.get("connection", "").split(",")}
    headers: list[tuple[str, str]] = []
    for name, value in request.headers.items():
        lower = name.lower()
        if lower in _REQUEST_DROP or lower in named_hops:
            continue
        if lower == "cookie":
            value = "; ".join(c for c in value.split("; ") if not c.startswith(f"{COOKIE}="))
            if not value:
                continue
        headers.append((name, value))
    if request.headers.get("content-length"):
        headers.append(("Content-Length", request.headers["content-length"]))
    elif "chunked" in request.headers.get("transfer-encoding", "").lower():
        headers.append(("Transfer-Encoding", "chunked"))
    headers += [("Host", "127.0.0.1:5565"), ("Connection", "close"), ("X-Hy2scale-Proxy", "true")]
    return headers


def _local_principal(request: Request, token: str) -> bool:
    auth = get_auth(request)
    principal = auth.check_token(token) if token else None
    if principal is None:
        return False
    return not (principal.kind == "session" and auth.force_password_change())


async def _send_request(request: Request, stream: ByteStream, conn: h11.Connection, target: Target) -> None:
    query = request.scope.get("query_string", b"").decode("latin-1")
    url = target.path + (f"?{query}" if query else "")
    stream.write(conn.send(h11.Request(method=request.method, target=url, headers=_forward_headers(request))))
    async for chunk in request.stream():
        if chunk:
            stream.write(conn.send(h11.Data(data=chunk)) or b"")
            await stream.drain()
    stream.write(conn.send(h11.EndOfMessage()) or b"")
    await stream.drain()


async def _read_head(stream: ByteStream, conn: h11.Connection) -> h11.Response:
    while True:
        event = await next_h11_event(conn, stream)
        if isinstance(event, h11.Response):
            return event
        if not isinstance(event, h11.InformationalResponse):
            raise h11.RemoteProtocolError(f"unexpected {type(event).__name__}")


async def _body(stream: ByteStream, conn: h11.Connection) -> AsyncIterator[bytes]:
    try:
        while True:
            event = await next_h11_event(conn, stream)
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            else:
                return
    except (h11.RemoteProtocolError, OSError, ConnectionError) as exc:
        log.info("event=remote_body_cut error=%s", exc)
    finally:
        _close(stream)


def _close(stream: ByteStream) -> None:
    with contextlib.suppress(Exception):
        stream.close()


def _cookie_path(base: str, chain: str) -> str:
    return f"{base}/remote/{chain}/"


def _relay_for(node: Any, chain: str) -> Any:
    """The relay that reaches ``chain``; 502 without one, 409 for a plain Hysteria 2 peer."""
    relay = getattr(node, "relay", None)
    if relay is None:
        raise ApiError(502, f"tunnel to {chain} failed: the relay is not running")
    native = {p.get("name") for p in relay.peers() if p.get("native")}
    if chain in native:
        raise ApiError(409, f"peer {chain!r} is a plain Hysteria 2 server: it has no hy2scale UI to open")
    return relay


async def _open(relay: Any, chain: str) -> ByteStream:
    try:
        return await asyncio.wait_for(relay.open_api(chain), DIAL_TIMEOUT)
    except TimeoutError:
        raise ApiError(502, f"tunnel to {chain} failed: no answer in {DIAL_TIMEOUT:.0f} s") from None
    except Exception as exc:  # RelayError, dial errors from the hy2 layer: all one-line reasons
        raise ApiError(502, f"tunnel to {chain} failed: {exc}") from None


@sub_router.api_route("/remote/{rest:path}", methods=METHODS, include_in_schema=False)
async def remote_proxy(request: Request) -> Response:
    if request.headers.get(PROXY_HEADER):
        raise ApiError(403, "proxy chaining not allowed")
    base = request.app.state.base_path
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    marker = f"{base}/remote/".encode()
    target = parse_target(raw_path.decode("latin-1")[len(marker) :])
    prefix = f"{base}/remote/{target.chain}"

    token = request.query_params.get("token", "")
    if _local_principal(request, token):
        # Trade a local ?token= for the cookie and drop it from the address bar, so it is never
        # forwarded to the peer (a remote SSE ?token= is the peer's own and is not valid here).
        query = urlencode(
            [(k, v) for k, v in parse_qsl(request.url.query, keep_blank_values=True) if k != "token"]
        )
        redirect = RedirectResponse(
            raw_path.decode("latin-1") + (f"?{query}" if query else ""), status_code=303
        )
        redirect.set_cookie(
            COOKIE, token, path=_cookie_path(base, target.chain), httponly=True, samesite="strict"
        )
        log.info("event=remote_cookie_set chain=%s", target.chain)
        return redirect
    if not _local_principal(request, request.cookies.get(COOKIE, "")):
        raise ApiError(401, "log in to this node first, then open the remote node from the Nodes page")

    relay = _relay_for(get_node(request), target.chain)
    api = f"{REMOTE_BASE}/api"
    if target.path != api and not target.path.startswith(f"{api}/"):
        return proxied_ui(request.app, target.path[len(REMOTE_BASE) + 1 :], prefix)
    stream = await _open(relay, target.chain)
    conn = h11.Connection(h11.CLIENT)
    try:
        await _send_request(request, stream, conn, target)
        head = await asyncio.wait_for(_read_head(stream, conn), HEAD_TIMEOUT)
    except TimeoutError:
        _close(stream)
        raise ApiError(504, f"no answer from {target.chain} in {HEAD_TIMEOUT:.0f} s") from None
    except (h11.ProtocolError, OSError, ConnectionError) as exc:
        _close(stream)
        raise ApiError(502, f"bad response from remote: {exc or type(exc).__name__}") from None

    headers: list[tuple[bytes, bytes]] = list(_RESPONSE_HARDENING)
    for name, value in head.headers:
        lower = name.lower()
        # h11 gives bytes; the drop set is text (it also filters request headers).
        if lower.decode("latin-1") in _RESPONSE_DROP:
            continue
        if lower == b"location":
            value = rewrite_location(value.decode("latin-1"), prefix).encode("latin-1")
        headers.append((lower, value))
    log.debug(
        "event=remote_request chain=%s method=%s status=%d", target.chain, request.method, head.status_code
    )
    response = StreamingResponse(_body(stream, conn), status_code=head.status_code)
    response.raw_headers = headers
    return response
