"""Pieces every proxy service shares: buffered message reads, TLS contexts, the counted relay."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from hy2scale.accounts.sessions import Connection
from hy2scale.services.splice import fast_relay
from hy2scale.streams import ByteStream, pipe

T = TypeVar("T")

HANDSHAKE_TIMEOUT = 30.0
MAX_HANDSHAKE = 64 * 1024


class Buffered:
    """A ByteStream with a read-ahead buffer, so sans-IO parsers can ask for "more bytes"."""

    def __init__(self, stream: ByteStream) -> None:
        self.stream = stream
        self.buf = b""

    async def parse(self, parser: Callable[[bytes], tuple[T, int] | None]) -> T:
        while True:
            result = parser(self.buf)
            if result is not None:
                value, used = result
                self.buf = self.buf[used:]
                return value
            if len(self.buf) > MAX_HANDSHAKE:
                raise ValueError("handshake too large")
            data = await self.stream.read(16384)
            if not data:
                raise asyncio.IncompleteReadError(self.buf, None)
            self.buf += data

    def take(self) -> bytes:
        data, self.buf = self.buf, b""
        return data


class Prefixed:
    """A ByteStream that first yields bytes already read during the handshake."""

    def __init__(self, stream: ByteStream, prefix: bytes) -> None:
        self._stream = stream
        self._prefix = prefix

    def unwrap_if_empty(self) -> ByteStream | None:
        """The inner stream once nothing is left to replay (lets the relay use the fast path)."""
        return None if self._prefix else self._stream

    async def read(self, n: int = -1) -> bytes:
        if self._prefix:
            data = self._prefix if n < 0 else self._prefix[:n]
            self._prefix = self._prefix[len(data) :]
            return data
        return await self._stream.read(n)

    async def readexactly(self, n: int) -> bytes:
        head = await self.read(n) if self._prefix else b""
        return head + (await self._stream.readexactly(n - len(head)) if len(head) < n else b"")

    def write(self, data: bytes) -> None:
        self._stream.write(data)

    async def drain(self) -> None:
        await self._stream.drain()

    def write_eof(self) -> None:
        self._stream.write_eof()

    def close(self) -> None:
        self._stream.close()

    async def wait_closed(self) -> None:
        await self._stream.wait_closed()


async def relay(conn: Connection, client: ByteStream, upstream: ByteStream) -> None:
    """Pipe client⇄upstream with live counting; a kick or cut-off (``conn.close()``) ends it at once."""
    if isinstance(client, Prefixed) and client.unwrap_if_empty() is not None:
        client = client.unwrap_if_empty()
    job = fast_relay(client, upstream, conn.add_tx, conn.add_rx) or pipe(
        client, upstream, a_to_b=conn.add_tx, b_to_a=conn.add_rx
    )
    task = asyncio.ensure_future(job)
    conn.add_close_callback(task.cancel)
    try:
        await asyncio.wait([task])
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        elif not task.cancelled():
            task.exception()
        conn.close()


def cert_files(node: Any, cert_id: str) -> tuple[Path, Path]:
    """The cert and key files of a TLS-store id (the store checks the id against traversal)."""
    return Path(node.certs.cert_path(cert_id)), Path(node.certs.key_path(cert_id))


def server_tls(node: Any, cert_id: str) -> ssl.SSLContext | None:
    if not cert_id:
        return None
    crt, key = cert_files(node, cert_id)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(crt, key)
    return ctx


def peer_ip(stream: ByteStream) -> str:
    writer = getattr(stream, "writer", None)
    peer = writer.get_extra_info("peername") if writer is not None else None
    return str(peer[0]) if peer else ""
