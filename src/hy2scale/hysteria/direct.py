"""A ready-made server handler that dials targets directly from this host.

Useful for a plain Hysteria 2 server and as the reference handler in tests and benchmarks; the
node plugs in its own handler instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket

from .server import TcpRequest

log = logging.getLogger("hy2scale.hysteria")
CHUNK = 64 * 1024


def split_addr(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


class DirectUdp(asyncio.DatagramProtocol):
    """One unconnected UDP socket per client session; replies carry their sender address."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[tuple[bytes, str]] = asyncio.Queue(1024)
        self._transports: dict[int, asyncio.DatagramTransport] = {}

    async def _transport(self, family: int) -> asyncio.DatagramTransport:
        transport = self._transports.get(family)
        if transport is None:
            loop = asyncio.get_running_loop()
            host = "::" if family == socket.AF_INET6 else "0.0.0.0"
            transport, _ = await loop.create_datagram_endpoint(
                lambda: self, local_addr=(host, 0), family=family
            )
            self._transports[family] = transport
        return transport

    async def send(self, data: bytes, addr: str) -> None:
        host, port = split_addr(addr)
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        family, *_, sockaddr = infos[0]
        (await self._transport(family)).sendto(data, sockaddr)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        host = f"[{addr[0]}]" if ":" in addr[0] else addr[0]
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait((data, f"{host}:{addr[1]}"))

    async def recv(self) -> tuple[bytes, str]:
        return await self._queue.get()

    def close(self) -> None:
        for transport in self._transports.values():
            transport.close()
        self._transports.clear()


async def _copy(reader: object, writer: object) -> None:
    try:
        while data := await reader.read(CHUNK):  # type: ignore[attr-defined]
            writer.write(data)  # type: ignore[attr-defined]
            await writer.drain()  # type: ignore[attr-defined]
    finally:
        with contextlib.suppress(OSError, ConnectionError, RuntimeError):
            writer.write_eof()  # type: ignore[attr-defined]


class DirectHandler:
    """Accepts any of ``passwords`` (auth id = the password's index) and dials directly."""

    def __init__(self, passwords: list[str], connect_timeout: float = 10.0) -> None:
        self.passwords = passwords
        self.connect_timeout = connect_timeout

    async def authenticate(self, remote: tuple[str, int], auth: str, client_rx: int) -> str | None:
        return str(self.passwords.index(auth)) if auth in self.passwords else None

    async def handle_tcp(self, request: TcpRequest) -> None:
        try:
            host, port = split_addr(request.addr)
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, limit=CHUNK * 4), self.connect_timeout
            )
        except (OSError, ValueError, TimeoutError) as exc:
            await request.reject(f"dial {request.addr}: {exc}")
            return
        stream = await request.accept()
        try:
            await asyncio.gather(_copy(stream, writer), _copy(reader, stream))
        except (OSError, ConnectionError) as exc:
            log.debug("event=tcp_relay_ended addr=%s error=%s", request.addr, exc)
        finally:
            stream.close()
            writer.close()

    async def open_udp(self, auth_id: str) -> DirectUdp:
        return DirectUdp()

    def on_disconnect(self, auth_id: str, remote: tuple[str, int]) -> None:
        return None
