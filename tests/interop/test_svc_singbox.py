"""sing-box as a real Shadowsocks 2022 client (TCP and UDP) and as a SOCKS5 UDP client of our services."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from hy2scale.accounts import Accounts, User
from hy2scale.services import share
from hy2scale.services.manager import ServiceManager
from tests.conftest import free_port, require_tool, sing_box
from tests.unit.test_svc_fixtures import BLOB, http_origin, make_node, run_tool, udp_echo, user

pytestmark = pytest.mark.interop

SIZE = 3 * 1024 * 1024


@contextlib.asynccontextmanager
async def run_sing_box(
    tmp_path: Path, outbound: dict[str, Any], inbounds: list[dict[str, Any]]
) -> AsyncIterator[None]:
    config = {"log": {"level": "warn"}, "inbounds": inbounds, "outbounds": [{**outbound, "tag": "out"}]}
    path = tmp_path / "sing-box.json"
    path.write_text(json.dumps(config))
    proc = await asyncio.create_subprocess_exec(
        sing_box(), "run", "-c", str(path), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    try:
        tcp_ports = [i["listen_port"] for i in inbounds if i["type"] == "mixed"]
        for _ in range(200):
            if proc.returncode is not None:
                raise RuntimeError((await proc.stderr.read()).decode())
            if not tcp_ports:
                await asyncio.sleep(0.5)
                break
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", tcp_ports[0])
                writer.close()
                break
            except OSError:
                await asyncio.sleep(0.05)
        yield
    finally:
        if proc.returncode is None:
            proc.terminate()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), 5)
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def udp_roundtrip(port: int, message: bytes, tries: int = 20) -> bytes:
    """Send to sing-box's UDP forwarder until an answer comes back (the first packets may race startup)."""
    loop = asyncio.get_running_loop()
    answers: asyncio.Queue[bytes] = asyncio.Queue()

    class Client(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple) -> None:
            answers.put_nowait(data)

    transport, _ = await loop.create_datagram_endpoint(Client, remote_addr=("127.0.0.1", port))
    try:
        for _ in range(tries):
            transport.sendto(message)
            with contextlib.suppress(TimeoutError):
                return await asyncio.wait_for(answers.get(), 0.5)
        raise TimeoutError("no UDP answer")
    finally:
        transport.close()


@pytest.mark.parametrize(
    ("method", "explicit_psk"),
    [
        ("2022-blake3-aes-128-gcm", True),
        ("2022-blake3-aes-256-gcm", False),
        ("2022-blake3-chacha20-poly1305", False),
    ],
)
async def test_sing_box_ss2022_multi_user(method: str, explicit_psk: bool, tmp_path: Path) -> None:
    """The client config is the sing-box outbound our subscription serves for the user."""
    curl = require_tool("curl")
    key_len = 16 if "128" in method else 32
    server_psk = base64.b64encode(os.urandom(key_len)).decode()
    alice_psk = base64.b64encode(os.urandom(key_len)).decode()
    bob_psk = base64.b64encode(os.urandom(key_len)).decode()
    node = make_node(tmp_path, [user("alice", "x", proxy_passwords={"ss": alice_psk}), user("bob", bob_psk)])
    ss_port = free_port()
    node.store.sections.put(
        "shadowsocks",
        {"listen": f"127.0.0.1:{ss_port}", "enabled": True, "method": method, "psk": server_psk},
    )
    node.accounts = Accounts(node)
    node.services = ServiceManager(node)
    await node.services.start()
    mixed, forward = free_port(), free_port()
    try:
        async with http_origin() as origin, udp_echo() as echo:
            alice = User.from_dict(node.store.users.get("id-alice"))
            [outbound] = [e.singbox for e in share.endpoints(node, alice, "127.0.0.1") if e.proxy == "ss"]
            outbound.pop("tag")
            inbounds = [
                {"type": "mixed", "listen": "127.0.0.1", "listen_port": mixed},
                {
                    "type": "direct",
                    "listen": "127.0.0.1",
                    "listen_port": forward,
                    "network": "udp",
                    "override_address": "127.0.0.1",
                    "override_port": echo,
                },
            ]
            async with run_sing_box(tmp_path, outbound, inbounds):
                code, body, err = await run_tool(
                    curl,
                    "-sS",
                    "--socks5-hostname",
                    f"127.0.0.1:{mixed}",
                    f"http://127.0.0.1:{origin}/{SIZE}",
                )
                assert code == 0, err
                assert hashlib.sha256(body).digest() == hashlib.sha256(BLOB[:SIZE]).digest()
                payload = BLOB[SIZE : 2 * SIZE]
                code, out, _ = await run_tool(
                    curl,
                    "-sS",
                    "--socks5-hostname",
                    f"127.0.0.1:{mixed}",
                    "--data-binary",
                    "@-",
                    f"http://127.0.0.1:{origin}/sha256",
                    stdin=payload,
                )
                assert out.decode() == hashlib.sha256(payload).hexdigest()
                assert await udp_roundtrip(forward, b"ping-2022") == b"echo:ping-2022"
        assert node.accounts.traffic_used("id-alice") >= 2 * SIZE
        assert node.accounts.traffic_used("id-bob") == 0
    finally:
        await node.services.stop()


async def test_sing_box_socks5_udp_associate(tmp_path: Path) -> None:
    node = make_node(tmp_path, [user("alice", "alice-pw")])
    socks_port = free_port()
    node.store.proxies.create(
        {"id": "socks5", "protocol": "socks5", "listen": f"127.0.0.1:{socks_port}", "enabled": True}
    )
    node.accounts = Accounts(node)
    node.services = ServiceManager(node)
    await node.services.start()
    forward = free_port()
    try:
        async with udp_echo() as echo:
            outbound = {
                "type": "socks",
                "server": "127.0.0.1",
                "server_port": socks_port,
                "version": "5",
                "username": "alice",
                "password": "alice-pw",
            }
            inbounds = [
                {
                    "type": "direct",
                    "listen": "127.0.0.1",
                    "listen_port": forward,
                    "network": "udp",
                    "override_address": "127.0.0.1",
                    "override_port": echo,
                }
            ]
            async with run_sing_box(tmp_path, outbound, inbounds):
                assert await udp_roundtrip(forward, b"hello") == b"echo:hello"
                devices = node.accounts.sessions()
                assert [d["username"] for d in devices] == ["alice"]
                assert devices[0]["tx_bytes"] >= 5 and devices[0]["rx_bytes"] >= 10
    finally:
        await node.services.stop()
