"""SOCKS5 proxy service: RFC 1929 auth against the users, CONNECT and UDP ASSOCIATE through exits."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from hy2scale.accounts.sessions import Connection
from hy2scale.accounts.users import User
from hy2scale.services import socks5_codec as codec
from hy2scale.services.base import TcpService
from hy2scale.services.common import HANDSHAKE_TIMEOUT, Buffered, Prefixed, relay
from hy2scale.services.exits import ExitRoute, UdpOutbound, join_addr, split_addr
from hy2scale.streams import ByteStream

log = logging.getLogger("hy2scale.services.socks5")

UDP_QUEUE = 512


class Socks5Service(TcpService):
    protocol = "socks5"

    def _route(self, user: User | None) -> ExitRoute:
        c = self.config
        return self.accounts.route_for(
            user, c.get("exit_via") or "", c.get("exit_paths") or (), c.get("exit_mode") or ""
        )

    async def _authenticate(self, stream: ByteStream, buf: Buffered, ip: str) -> tuple[bool, User | None]:
        methods = await buf.parse(codec.parse_greeting)
        if self.config.get("no_auth"):
            # Open only because the operator configured it so (DESIGN: no silent open proxies).
            ok = codec.NO_AUTH in methods
            stream.write(codec.method_reply(codec.NO_AUTH if ok else codec.NO_ACCEPTABLE))
            return ok, None
        if codec.USER_PASS not in methods:
            stream.write(codec.method_reply(codec.NO_ACCEPTABLE))
            return False, None
        stream.write(codec.method_reply(codec.USER_PASS))
        await stream.drain()
        username, password = await buf.parse(codec.parse_user_pass)
        result = self.accounts.authenticate(username, password, self.protocol, ip)
        stream.write(codec.auth_reply(result.ok))
        return result.ok, result.user

    async def handle(self, stream: ByteStream, ip: str) -> None:
        buf = Buffered(stream)
        async with asyncio.timeout(HANDSHAKE_TIMEOUT):
            ok, user = await self._authenticate(stream, buf, ip)
            await stream.drain()
            if not ok:
                return
            try:
                request = await buf.parse(codec.parse_request)
            except codec.Socks5Error as exc:
                stream.write(codec.reply(exc.reply))
                await stream.drain()
                return
        if request.cmd == codec.CMD_CONNECT:
            await self._connect(stream, buf, ip, user, request)
        elif request.cmd == codec.CMD_UDP_ASSOCIATE:
            await self._udp_associate(stream, ip, user)
        else:
            stream.write(codec.reply(codec.REP_COMMAND_NOT_SUPPORTED))
            await stream.drain()

    async def _connect(
        self, stream: ByteStream, buf: Buffered, ip: str, user: User | None, request: codec.Request
    ) -> None:
        conn = self.accounts.open_connection(user, ip, self.protocol)
        if conn.closed.is_set():
            stream.write(codec.reply(codec.REP_NOT_ALLOWED))
            await stream.drain()
            return
        try:
            upstream = await self.exits.open_tcp(self._route(user), request.host, request.port)
        except Exception as exc:
            conn.close()
            log.info(
                "event=dial_failed service=%s target=%s:%d error=%s",
                self.name,
                request.host,
                request.port,
                type(exc).__name__,
            )
            stream.write(codec.reply(codec.REP_HOST_UNREACHABLE))
            await stream.drain()
            return
        try:
            stream.write(codec.reply(codec.REP_SUCCEEDED))
            await stream.drain()
        except BaseException:
            upstream.close()
            conn.close()
            raise
        await relay(conn, Prefixed(stream, buf.take()), upstream)

    async def _udp_associate(self, stream: ByteStream, ip: str, user: User | None) -> None:
        conn = self.accounts.open_connection(user, ip, self.protocol)
        if conn.closed.is_set():
            stream.write(codec.reply(codec.REP_NOT_ALLOWED))
            await stream.drain()
            return
        writer = getattr(stream, "writer", None)
        local_ip = writer.get_extra_info("sockname")[0] if writer is not None else "127.0.0.1"
        try:
            upstream = await self.exits.open_udp(self._route(user))
        except Exception as exc:
            conn.close()
            log.info("event=udp_open_failed service=%s error=%s", self.name, type(exc).__name__)
            stream.write(codec.reply(codec.REP_FAILURE))
            await stream.drain()
            return
        relay_proto = _UdpRelay(ip)
        transport: asyncio.DatagramTransport | None = None
        tasks: list[asyncio.Future[None]] = []
        try:
            transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
                lambda: relay_proto, local_addr=(local_ip, 0)
            )
            port = transport.get_extra_info("sockname")[1]
            stream.write(codec.reply(codec.REP_SUCCEEDED, local_ip, port))
            await stream.drain()
            tasks = [
                asyncio.ensure_future(_client_to_target(relay_proto, upstream, conn)),
                asyncio.ensure_future(_target_to_client(relay_proto, transport, upstream, conn)),
                # The association lives as long as its TCP control connection (RFC 1928 §7).
                asyncio.ensure_future(_drain_until_eof(stream)),
            ]
            conn.add_close_callback(lambda: [t.cancel() for t in tasks])
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if transport is not None:
                transport.close()
            upstream.close()
            conn.close()


class _UdpRelay(asyncio.DatagramProtocol):
    """Accepts datagrams only from the client's IP; replies go to the last port it sent from."""

    def __init__(self, client_ip: str) -> None:
        self.client_ip = client_ip
        self.client_addr: tuple[Any, ...] | None = None
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(UDP_QUEUE)

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        if addr[0] != self.client_ip:
            return
        self.client_addr = addr
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(data)


async def _client_to_target(proto: _UdpRelay, upstream: UdpOutbound, conn: Connection) -> None:
    while True:
        parsed = codec.parse_udp(await proto.queue.get())
        if parsed is None:
            continue
        host, port, payload = parsed
        conn.add_tx(len(payload))
        with contextlib.suppress(OSError):
            await upstream.send(payload, join_addr(host, port))


async def _target_to_client(
    proto: _UdpRelay, transport: asyncio.DatagramTransport, upstream: UdpOutbound, conn: Connection
) -> None:
    while True:
        payload, addr = await upstream.recv()
        if proto.client_addr is None:
            continue
        host, port = split_addr(addr)
        conn.add_rx(len(payload))
        transport.sendto(codec.encode_udp(host, port, payload), proto.client_addr)


async def _drain_until_eof(stream: ByteStream) -> None:
    while await stream.read(1024):
        pass
