"""Security review of the Hysteria 2 server: bounded UDP sessions, no SSRF through the masquerade."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator

import pytest

from hy2scale.hysteria import ClientConfig, Hy2Client, Hy2Server, MasqueradeConfig, ServerConfig, masquerade
from hy2scale.hysteria import server as server_module
from hy2scale.hysteria.direct import DirectHandler
from hy2scale.hysteria.tls import self_signed

PASSWORD = "sec-review"
CAP = 4


class _UdpEcho(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.sendto(data, addr)  # type: ignore[attr-defined]


@pytest.fixture
async def udp_echo() -> AsyncIterator[int]:
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        _UdpEcho, local_addr=("127.0.0.1", 0)
    )
    yield transport.get_extra_info("sockname")[1]
    transport.close()


async def test_udp_sessions_per_connection_are_capped(udp_echo: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_module, "MAX_UDP_SESSIONS", CAP)
    cert, key = self_signed("hy2.test")
    server = Hy2Server(ServerConfig(listen="127.0.0.1:0", cert=cert, key=key), DirectHandler([PASSWORD]))
    await server.start()
    client = Hy2Client(
        ClientConfig(
            server="127.0.0.1", ports=server.ports[0], sni="hy2.test", password=PASSWORD, insecure=True
        )
    )
    try:
        await client.connect()
        target = f"127.0.0.1:{udp_echo}"
        sessions = [await client.udp() for _ in range(CAP + 3)]
        for i, session in enumerate(sessions[:CAP]):
            await session.send(b"in-%d" % i, target)
            assert (await asyncio.wait_for(session.recv(), 10))[0] == b"in-%d" % i
        for session in sessions[CAP:]:
            await session.send(b"over", target)
        # A datagram sent after the refused ones still works on an existing session ...
        await sessions[0].send(b"again", target)
        assert (await asyncio.wait_for(sessions[0].recv(), 10))[0] == b"again"
        # ... and the server holds no more sessions than the cap.
        (state,) = server.sessions
        assert len(state.udp) == CAP
    finally:
        await client.close()
        await server.stop()


@pytest.mark.parametrize("path", ["@127.0.0.1:{port}/secret", ".localhost:{port}/secret"])
async def test_proxy_masquerade_keeps_an_anonymous_path_on_the_upstream(path: str) -> None:
    """An anonymous ``:path`` that is not origin-form must not redirect the masquerade's upstream."""
    seen: list[bytes] = []

    async def victim(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readline())
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecret")
        await writer.drain()
        writer.close()

    internal = await asyncio.start_server(victim, "127.0.0.1", 0)
    port = internal.sockets[0].getsockname()[1]
    try:
        config = MasqueradeConfig(type="proxy", url="http://upstream.invalid")
        request = masquerade.Request("GET", "example.com", path.format(port=port), [])
        response = await masquerade.respond(config, request)
        assert response.status == 404 and response.body == masquerade.NOT_FOUND_BODY
        assert seen == []
    finally:
        internal.close()
        await internal.wait_closed()


async def test_anonymous_request_bodies_are_not_buffered() -> None:
    """An unauthenticated HTTP/3 visitor's request bodies are not held (the 404 masquerade never reads them)."""
    from aioquic.asyncio import connect
    from aioquic.h3.connection import H3_ALPN, H3Connection
    from aioquic.quic.configuration import QuicConfiguration

    cert, key = self_signed("hy2.test")
    server = Hy2Server(ServerConfig(listen="127.0.0.1:0", cert=cert, key=key), DirectHandler([PASSWORD]))
    await server.start()
    config = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN, verify_mode=ssl.CERT_NONE)
    config.server_name = "hy2.test"
    try:
        async with connect("127.0.0.1", server.ports[0], configuration=config) as proto:
            h3 = H3Connection(proto._quic)
            for i in range(8):
                sid = proto._quic.get_next_available_stream_id()
                headers = [(b":method", b"POST"), (b":scheme", b"https"), (b":authority", b"example.com")]
                h3.send_headers(sid, [*headers, (b":path", b"/upload-%d" % i)])
                # Never ended: a slow upload the server would otherwise keep in memory.
                h3.send_data(sid, b"x" * (128 * 1024), end_stream=False)
                proto.transmit()
            (state,) = server.sessions
            for _ in range(500):
                if len(state._requests) == 8:
                    break
                await asyncio.sleep(0.01)
            assert len(state._requests) == 8 and state.auth_id is None
            assert sum(len(body) for _, _, body in state._requests.values()) == 0
    finally:
        await server.stop()


class _CountingHandler(DirectHandler):
    def __init__(self) -> None:
        super().__init__([PASSWORD])
        self.tries: list[str] = []

    async def authenticate(self, remote: tuple[str, int], auth: str, client_rx: int) -> str | None:
        self.tries.append(auth)
        return await super().authenticate(remote, auth, client_rx)


async def test_password_tries_per_connection_are_capped() -> None:
    """One QUIC connection cannot brute-force passwords over many /auth requests; later tries look
    exactly like wrong passwords (the masquerade 404), even with the right one."""
    from aioquic.asyncio import connect
    from aioquic.asyncio.protocol import QuicConnectionProtocol
    from aioquic.h3.connection import H3_ALPN, H3Connection
    from aioquic.h3.events import HeadersReceived
    from aioquic.quic.configuration import QuicConfiguration

    statuses: dict[int, asyncio.Future[str]] = {}

    class H3Client(QuicConnectionProtocol):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            self.h3 = H3Connection(self._quic)

        def quic_event_received(self, event: object) -> None:
            for h3_event in self.h3.handle_event(event):  # type: ignore[arg-type]
                if isinstance(h3_event, HeadersReceived) and h3_event.stream_id in statuses:
                    status = dict(h3_event.headers)[b":status"].decode()
                    if not statuses[h3_event.stream_id].done():
                        statuses[h3_event.stream_id].set_result(status)

    handler = _CountingHandler()
    cert, key = self_signed("hy2.test")
    server = Hy2Server(ServerConfig(listen="127.0.0.1:0", cert=cert, key=key), handler)
    await server.start()
    config = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN, verify_mode=ssl.CERT_NONE)
    config.server_name = "hy2.test"
    try:
        async with connect(
            "127.0.0.1", server.ports[0], configuration=config, create_protocol=H3Client
        ) as proto:
            got = []
            for guess in ["a", "b", "c", "d", "e", PASSWORD]:
                sid = proto._quic.get_next_available_stream_id()
                statuses[sid] = asyncio.get_running_loop().create_future()
                headers = [(b":method", b"POST"), (b":scheme", b"https"), (b":authority", b"hysteria")]
                headers += [(b":path", b"/auth"), (b"hysteria-auth", guess.encode())]
                proto.h3.send_headers(sid, headers, end_stream=True)
                proto.transmit()
                got.append(await asyncio.wait_for(statuses[sid], 10))
        assert got == ["404"] * 6
        assert handler.tries == ["a", "b", "c"]
    finally:
        await server.stop()
