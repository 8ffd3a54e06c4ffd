"""A sing-box Hysteria 2 server as a native peer: detected as native and usable as an exit."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from hy2scale.bus import ChangeBus
from hy2scale.hysteria.tls import self_signed
from hy2scale.relay.exits import ExitRoute
from hy2scale.relay.manager import RelayManager
from hy2scale.store import Store
from tests.conftest import free_port, sing_box
from tests.integration.test_relay_mesh_memory import Echo, roundtrip, until

pytestmark = pytest.mark.interop
PASSWORD = "native-secret"


@pytest.fixture
def singbox_server(tmp_path: Path) -> Iterator[int]:
    binary = sing_box()
    cert, key = self_signed("hy2scale")
    (tmp_path / "c.pem").write_text(cert)
    (tmp_path / "k.pem").write_text(key)
    port = free_port()
    config = {
        "log": {"level": "warn"},
        "inbounds": [
            {
                "type": "hysteria2",
                "listen": "127.0.0.1",
                "listen_port": port,
                "users": [{"password": PASSWORD}],
                "tls": {
                    "enabled": True,
                    "certificate_path": str(tmp_path / "c.pem"),
                    "key_path": str(tmp_path / "k.pem"),
                },
            }
        ],
        "outbounds": [{"type": "direct"}],
    }
    (tmp_path / "sb.json").write_text(json.dumps(config))
    proc = subprocess.Popen(
        [binary, "run", "-c", str(tmp_path / "sb.json")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture
async def manager(tmp_path: Path) -> AsyncIterator[RelayManager]:
    (tmp_path / "a").mkdir()
    store = Store.open(tmp_path / "a")
    store.sections.put("node", {"node_id": "id-a", "name": "a"})
    store.sections.put("server", {"listen": "127.0.0.1:1", "password": "unused-pass"})
    mgr = RelayManager(SimpleNamespace(store=store, bus=ChangeBus(), accounts=None))
    await mgr.start()
    yield mgr
    await mgr.stop()
    store.close()


async def test_singbox_is_native_peer_and_exit(manager: RelayManager, singbox_server: int) -> None:
    manager.store.clients.create(
        {"name": "sb", "addr": f"127.0.0.1:{singbox_server}", "password": PASSWORD, "insecure": True}
    )
    await manager.node.bus.publish("clients")
    await until(lambda: manager.mesh.peers.get("sb") is not None, 20)
    peer = manager.mesh.peers.get("sb")
    assert peer.native
    node = next(n for n in manager.topology() if n["name"] == "sb")
    assert node["native"] and node["connected"] and "children" not in node

    echo = Echo()
    port = await echo.start()
    try:
        stream = await manager.exits.open_tcp(ExitRoute(exit_via="sb"), "127.0.0.1", port)
        assert await roundtrip(stream, b"through sing-box") == b"through sing-box"
    finally:
        echo.close()

    loop = asyncio.get_running_loop()

    class EchoUdp(asyncio.DatagramProtocol):
        def connection_made(self, transport: Any) -> None:
            self.t = transport

        def datagram_received(self, data: bytes, addr: Any) -> None:
            self.t.sendto(data + b"!", addr)

    transport, _ = await loop.create_datagram_endpoint(EchoUdp, local_addr=("127.0.0.1", 0))
    uport = transport.get_extra_info("sockname")[1]
    try:
        session = await manager.exits.open_udp(ExitRoute(exit_via="sb"))
        got = None
        for _ in range(5):
            await session.send(b"u", f"127.0.0.1:{uport}")
            try:
                got = await asyncio.wait_for(session.recv(), 2)
                break
            except TimeoutError:
                continue
        session.close()
        assert got is not None and got[0] == b"u!"
    finally:
        transport.close()
