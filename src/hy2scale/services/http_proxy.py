"""HTTP proxy service: CONNECT tunnels and absolute-form forwarding with keep-alive, Basic auth (407)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from hy2scale.accounts.sessions import Connection
from hy2scale.accounts.users import User
from hy2scale.services import http_codec as codec
from hy2scale.services.base import TcpService
from hy2scale.services.common import HANDSHAKE_TIMEOUT, Buffered, Prefixed, relay
from hy2scale.services.exits import ExitRoute
from hy2scale.streams import CHUNK, ByteStream

log = logging.getLogger("hy2scale.services.http")

IDLE_TIMEOUT = 120.0
CHALLENGE = [("Proxy-Authenticate", 'Basic realm="proxy"')]


class _Upstream:
    """The origin connection kept across keep-alive requests to the same host:port."""

    def __init__(self, host: str, port: int, stream: ByteStream) -> None:
        self.key = (host, port)
        self.stream = stream
        self.buf = Buffered(stream)


class HttpProxyService(TcpService):
    protocol = "http"

    def _route(self, user: User | None) -> ExitRoute:
        c = self.config
        return self.accounts.route_for(
            user, c.get("exit_via") or "", c.get("exit_paths") or (), c.get("exit_mode") or ""
        )

    def _check_auth(self, head: codec.Head, ip: str) -> tuple[bytes | None, User | None]:
        """(error response or None, user)."""
        if self.config.get("no_auth"):
            return None, None
        creds = codec.basic_credentials(head)
        if creds is None:
            return codec.simple_response(407, "Proxy Authentication Required", CHALLENGE), None
        result = self.accounts.authenticate(creds[0], creds[1], self.protocol, ip)
        if not result.ok:
            status = (
                (403, "Forbidden") if result.reason == "kicked" else (407, "Proxy Authentication Required")
            )
            return codec.simple_response(*status, CHALLENGE if status[0] == 407 else None), None
        return None, result.user

    async def handle(self, stream: ByteStream, ip: str) -> None:
        client = Buffered(stream)
        conn: Connection | None = None
        upstream: _Upstream | None = None
        try:
            while True:
                try:
                    async with asyncio.timeout(IDLE_TIMEOUT if conn else HANDSHAKE_TIMEOUT):
                        head = await client.parse(codec.parse_head)
                    error, user = self._check_auth(head, ip)
                    if error is None:
                        host, port, path = codec.request_target(head)
                except codec.HttpError as exc:
                    stream.write(codec.simple_response(exc.status, str(exc)))
                    await stream.drain()
                    return
                if error is not None:
                    stream.write(error)
                    await stream.drain()
                    return
                if conn is None:
                    conn = self.accounts.open_connection(user, ip, self.protocol)
                if conn.closed.is_set():
                    stream.write(codec.simple_response(403, "Forbidden"))
                    await stream.drain()
                    return
                if upstream is None or upstream.key != (host, port):
                    if upstream is not None:
                        upstream.stream.close()
                    try:
                        upstream = _Upstream(
                            host, port, await self.exits.open_tcp(self._route(user), host, port)
                        )
                    except Exception as exc:
                        log.info(
                            "event=dial_failed service=%s target=%s:%d error=%s",
                            self.name,
                            host,
                            port,
                            type(exc).__name__,
                        )
                        stream.write(codec.simple_response(502, "Bad Gateway"))
                        await stream.drain()
                        return
                if head.start[0].upper() == "CONNECT":
                    stream.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                    await stream.drain()
                    tunnel, upstream = upstream.stream, None
                    await relay(conn, Prefixed(stream, client.take()), tunnel)
                    return
                if not await self._exchange(conn, head, path, client, stream, upstream):
                    return
        finally:
            if upstream is not None:
                upstream.stream.close()
            if conn is not None:
                conn.close()

    async def _exchange(
        self,
        conn: Connection,
        head: codec.Head,
        path: str,
        client: Buffered,
        stream: ByteStream,
        up: _Upstream,
    ) -> bool:
        """Forward one request and its response; False when the client connection must end."""
        task = asyncio.ensure_future(self._forward(conn, head, path, client, stream, up))
        conn.add_close_callback(task.cancel)
        try:
            return await task
        except asyncio.CancelledError:
            if conn.closed.is_set():
                return False
            raise

    async def _forward(
        self,
        conn: Connection,
        head: codec.Head,
        path: str,
        client: Buffered,
        stream: ByteStream,
        up: _Upstream,
    ) -> bool:
        method, _, version = head.start
        headers = head.without_hop_by_hop()
        framing = codec.request_framing(head)
        if framing[0] == "chunked":
            # Transfer-Encoding wins over Content-Length (RFC 9112 §6.3); never forward both (smuggling).
            headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        if head.get("host") is None:
            headers.insert(0, ("Host", f"{up.key[0]}:{up.key[1]}"))
        request = head.serialize((method, path, version), headers)
        up.stream.write(request)
        conn.add_tx(len(request))
        await _copy_body(client, up.stream, framing, conn.add_tx)
        await up.stream.drain()
        response = await up.buf.parse(codec.parse_head)
        framing = codec.response_framing(response, method)
        close = codec.wants_close(head) or framing[0] == "close"
        out_headers = response.without_hop_by_hop()
        if close:
            out_headers.append(("Connection", "close"))
        out = response.serialize(response.start, out_headers)
        stream.write(out)
        conn.add_rx(len(out))
        await _copy_body(up.buf, stream, framing, conn.add_rx)
        await stream.drain()
        return not close and not codec.wants_close(response)


async def _copy_body(
    src: Buffered, dst: ByteStream, framing: codec.Framing, count: Callable[[int], None]
) -> None:
    kind, length = framing
    if kind == "length":
        await _copy_exact(src, dst, length, count)
    elif kind == "chunked":
        while True:
            size = await src.parse(codec.parse_chunk_size)
            line = f"{size:x}\r\n".encode()
            dst.write(line)
            count(len(line))
            if size == 0:
                break
            await _copy_exact(src, dst, size + 2, count)
        # Trailer section up to the empty line.
        while True:
            trailer = await src.parse(_line)
            dst.write(trailer)
            count(len(trailer))
            if trailer == b"\r\n":
                break
    elif kind == "close":
        data = src.take()
        while True:
            if data:
                dst.write(data)
                count(len(data))
                await dst.drain()
            data = await src.stream.read(CHUNK)
            if not data:
                break


async def _copy_exact(src: Buffered, dst: ByteStream, n: int, count: Callable[[int], None]) -> None:
    while n > 0:
        data = src.buf[:n]
        src.buf = src.buf[len(data) :]
        if not data:
            data = await src.stream.read(min(n, CHUNK))
            if not data:
                raise asyncio.IncompleteReadError(b"", n)
        dst.write(data)
        count(len(data))
        n -= len(data)
        await dst.drain()


def _line(buf: bytes) -> tuple[bytes, int] | None:
    end = buf.find(b"\r\n")
    return (buf[: end + 2], end + 2) if end >= 0 else None
