"""Security review of the Hysteria 2 server: a client cannot open unbounded UDP sessions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from hy2scale.hysteria import ClientConfig, Hy2Client, Hy2Server, ServerConfig
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
        ClientConfig(server="127.0.0.1", ports=server.ports[0], sni="hy2.test", password=PASSWORD, insecure=True)
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
