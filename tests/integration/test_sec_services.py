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


async def _ss_tcp_echo(
    port: int, password: str, target: int, salt: bytes, timeout: float = 3.0
) -> bytes | None:
    """One SIP004 aes-128-gcm session with a chosen salt: the echoed payload, or None if refused."""
    from hy2scale.services import ss_codec as ss

    method = ss.METHODS["aes-128-gcm"]
    key = method.user_key(password)
    request = ss.encode_address("127.0.0.1", target) + b"ping"
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(salt + ss.ChunkSealer(method, method.session_key(key, salt)).chunks(request))
        await writer.drain()
        try:
            head = await asyncio.wait_for(reader.readexactly(method.salt_len), timeout)
        except (TimeoutError, asyncio.IncompleteReadError):
            return None
        opener = ss.ChunkOpener(method, method.session_key(key, head))
        got: list[bytes] = []
        while not got:
            data = await asyncio.wait_for(reader.read(65536), timeout)
            if not data:
                return None
            got = opener.feed(data)
        return b"".join(got)
    finally:
        writer.close()


async def test_shadowsocks_replay_filter_is_per_user(tmp_path, monkeypatch) -> None:
    """A user who fills their replay filter locks only themselves out; replays stay refused."""
    import os

    from hy2scale.accounts import Accounts
    from hy2scale.services import shadowsocks
    from hy2scale.services.manager import ServiceManager
    from tests.unit.test_svc_fixtures import make_node, user

    monkeypatch.setattr(shadowsocks, "SALTS_PER_USER", 2)

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.read(4))
        await writer.drain()
        writer.close()

    target = await asyncio.start_server(echo, "127.0.0.1", 0)
    target_port = target.sockets[0].getsockname()[1]
    node = make_node(tmp_path, [user("alice", "alice-pw"), user("bob", "bob-pw")])
    node.accounts = Accounts(node)
    node.services = ServiceManager(node)
    port = free_port()
    node.store.sections.put(
        "shadowsocks", {"listen": f"127.0.0.1:{port}", "enabled": True, "method": "aes-128-gcm"}
    )
    await node.services.start()
    try:
        first = os.urandom(16)
        assert await _ss_tcp_echo(port, "alice-pw", target_port, first) == b"ping"
        assert await _ss_tcp_echo(port, "alice-pw", target_port, first, timeout=1) is None  # replay
        assert await _ss_tcp_echo(port, "alice-pw", target_port, os.urandom(16)) == b"ping"
        assert await _ss_tcp_echo(port, "alice-pw", target_port, os.urandom(16), timeout=1) is None  # full
        assert await _ss_tcp_echo(port, "bob-pw", target_port, os.urandom(16)) == b"ping"
    finally:
        await node.services.stop()
        target.close()
