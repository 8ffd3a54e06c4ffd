"""Security review of the proxy services: bounded per-user UDP state, bounded request heads."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from hy2scale.accounts import Accounts
from hy2scale.services import shadowsocks
from hy2scale.services import ss_codec as ss
from hy2scale.services.manager import ServiceManager
from tests.conftest import free_port
from tests.unit.test_svc_fixtures import make_node, udp_echo, user

CAP = 3


class _Client(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.answers: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        self.answers.put_nowait(data)


async def test_shadowsocks_udp_sessions_per_user_are_capped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One captured SIP004 datagram replayed from many source ports must not open a session each."""
    monkeypatch.setattr(shadowsocks, "MAX_UDP_SESSIONS_PER_USER", CAP)
    node = make_node(tmp_path, [user("alice", "pw")])
    node.accounts = Accounts(node)
    node.services = ServiceManager(node)
    port = free_port()
    node.store.sections.put(
        "shadowsocks", {"listen": f"127.0.0.1:{port}", "enabled": True, "method": "aes-128-gcm"}
    )
    await node.services.start()
    loop = asyncio.get_running_loop()
    method = ss.METHODS["aes-128-gcm"]
    key = method.user_key("pw")
    clients: list[tuple[asyncio.DatagramTransport, _Client]] = []
    try:
        async with udp_echo() as echo:
            packet = ss.sip004_udp_seal(method, key, "127.0.0.1", echo, b"hi")
            for _ in range(CAP + 3):
                clients.append(await loop.create_datagram_endpoint(_Client, remote_addr=("127.0.0.1", port)))
            for transport, proto in clients[:CAP]:
                transport.sendto(packet)
                reply = await asyncio.wait_for(proto.answers.get(), 5)
                assert ss.sip004_udp_open(method, key, reply) == ("127.0.0.1", echo, b"echo:hi")
            for transport, _ in clients[CAP:]:
                transport.sendto(packet)
            # Sent after the refused ones: an existing session still relays ...
            clients[0][0].sendto(packet)
            await asyncio.wait_for(clients[0][1].answers.get(), 5)
            # ... and no more sessions than the cap were opened for alice.
            service = node.services.service("ss")
            assert len(service._udp_sessions) == CAP
            assert all(not proto.answers.qsize() for _, proto in clients[CAP:])
    finally:
        for transport, _ in clients:
            transport.close()
        await node.services.stop()
        with contextlib.suppress(Exception):
            node.store.close()
