"""Service manager: hot reload from the store, port conflicts, TLS listeners; SS probes and UDP."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import ssl
from pathlib import Path

from hy2scale.accounts import Accounts
from hy2scale.services import ss_codec as ss
from hy2scale.services.manager import ServiceManager
from tests.conftest import free_port, require_tool
from tests.unit.test_svc_fixtures import BLOB, http_origin, make_node, run_tool, udp_echo, user


async def socks_get(
    port: int, target_port: int, creds: tuple[str, str], tls: ssl.SSLContext | None = None
) -> bytes:
    """A minimal SOCKS5 client (optionally over TLS): CONNECT, one HTTP GET of 100 bytes."""
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=tls, server_hostname="localhost" if tls else None
    )
    try:
        user_b, pw_b = creds[0].encode(), creds[1].encode()
        writer.write(b"\x05\x01\x02" + bytes([1, len(user_b)]) + user_b + bytes([len(pw_b)]) + pw_b)
        writer.write(b"\x05\x01\x00\x01\x7f\x00\x00\x01" + target_port.to_bytes(2, "big"))
        assert await reader.readexactly(2) == b"\x05\x02"
        if await reader.readexactly(2) != b"\x01\x00":
            return b""
        reply = await reader.readexactly(10)
        assert reply[1] == 0
        # Sent after the reply, so nothing is left buffered and the relay takes its spliced path.
        writer.write(b"GET /100 HTTP/1.1\r\nHost: x\r\n\r\n")
        await reader.readuntil(b"\r\n\r\n")
        return await reader.readexactly(100)
    finally:
        writer.close()


def start_node(tmp_path: Path) -> object:
    node = make_node(tmp_path, [user("alice", "pw")])
    node.accounts = Accounts(node)
    node.services = ServiceManager(node)
    return node


async def test_hot_reload_and_port_conflict(tmp_path: Path) -> None:
    node = start_node(tmp_path)
    first, second = free_port(), free_port()
    node.store.proxies.create(
        {"id": "s", "protocol": "socks5", "listen": f"127.0.0.1:{first}", "enabled": True}
    )
    blocker = socket.create_server(("127.0.0.1", 0))
    busy = blocker.getsockname()[1]
    node.store.proxies.create(
        {"id": "busy", "protocol": "http", "listen": f"127.0.0.1:{busy}", "enabled": True}
    )
    await node.services.start()
    try:
        status = node.services.status()
        assert status["s"] == {"running": True, "error": ""}
        assert (
            status["busy"]["running"] is False and "address already in use" in status["busy"]["error"].lower()
        )
        async with http_origin() as origin:
            assert await socks_get(first, origin, ("alice", "pw")) == BLOB[:100]
            assert await socks_get(first, origin, ("alice", "bad")) == b""
            service = node.services.service("s")
            for _ in range(100):  # spliced connections end too (no task left waiting on a swapped protocol)
                if service.connection_count() == 0:
                    break
                await asyncio.sleep(0.02)
            assert service.connection_count() == 0
            node.store.proxies.update("s", {"listen": f"127.0.0.1:{second}"})
            node.store.proxies.delete("busy")
            await node.bus.publish("proxies")
            assert node.services.status() == {"s": {"running": True, "error": ""}}
            assert await socks_get(second, origin, ("alice", "pw")) == BLOB[:100]
            try:
                await socks_get(first, origin, ("alice", "pw"))
                raise AssertionError("old listener still open")
            except ConnectionRefusedError:
                pass
            node.store.proxies.update("s", {"enabled": False})
            await node.bus.publish("proxies")
            assert node.services.status() == {}
    finally:
        blocker.close()
        await node.services.stop()


async def test_tls_listeners_socks_and_https_proxy(tmp_path: Path) -> None:
    curl = require_tool("curl")
    node = start_node(tmp_path)
    node.certs.generate("proxy-cert", ["localhost", "127.0.0.1"])
    socks_port, https_port = free_port(), free_port()
    node.store.proxies.create(
        {
            "id": "s",
            "protocol": "socks5",
            "listen": f"127.0.0.1:{socks_port}",
            "enabled": True,
            "tls_cert": "proxy-cert",
        }
    )
    node.store.proxies.create(
        {
            "id": "h",
            "protocol": "http",
            "listen": f"127.0.0.1:{https_port}",
            "enabled": True,
            "tls_cert": "proxy-cert",
        }
    )
    await node.services.start()
    try:
        tls = ssl.create_default_context(cafile=str(node.certs.cert_path("proxy-cert")))
        async with http_origin() as origin:
            assert await socks_get(socks_port, origin, ("alice", "pw"), tls) == BLOB[:100]
            code, body, err = await run_tool(
                curl,
                "-sS",
                "-x",
                f"https://127.0.0.1:{https_port}",
                "--proxy-cacert",
                str(node.certs.cert_path("proxy-cert")),
                "-U",
                "alice:pw",
                f"http://127.0.0.1:{origin}/1000",
            )
            assert code == 0, err
            assert body == BLOB[:1000]
    finally:
        await node.services.stop()


async def test_shadowsocks_probe_is_drained_and_udp_relays(tmp_path: Path) -> None:
    node = start_node(tmp_path)
    port = free_port()
    node.store.sections.put(
        "shadowsocks", {"listen": f"127.0.0.1:{port}", "enabled": True, "method": "aes-128-gcm"}
    )
    await node.services.start()
    try:
        # A probe with a wrong key: the server keeps reading (no FIN/RST that would reveal how much it consumed).
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(os.urandom(200))
        await writer.drain()
        try:
            await asyncio.wait_for(reader.read(1), 0.5)
            raise AssertionError("server answered or closed a bad probe")
        except TimeoutError:
            pass
        writer.write(os.urandom(200))
        await writer.drain()
        writer.close()
        # UDP: one datagram to an echo server and back, sealed with alice's key.
        method = ss.METHODS["aes-128-gcm"]
        key = method.user_key("pw")
        answers: asyncio.Queue[bytes] = asyncio.Queue()

        class Client(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: tuple) -> None:
                answers.put_nowait(data)

        async with udp_echo() as echo:
            transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
                Client, remote_addr=("127.0.0.1", port)
            )
            try:
                transport.sendto(
                    ss.sip004_udp_seal(method, method.user_key("wrong"), "127.0.0.1", echo, b"x")
                )
                transport.sendto(ss.sip004_udp_seal(method, key, "127.0.0.1", echo, b"hi"))
                packet = await asyncio.wait_for(answers.get(), 5)
            finally:
                transport.close()
        assert ss.sip004_udp_open(method, key, packet) == ("127.0.0.1", echo, b"echo:hi")
        assert answers.empty()
        assert node.accounts.traffic_used("id-alice") == len(b"hi") + len(b"echo:hi")
    finally:
        await node.services.stop()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def test_open_proxy_only_when_configured(tmp_path: Path) -> None:
    curl = require_tool("curl")
    node = start_node(tmp_path)
    open_port, closed_port = free_port(), free_port()
    node.store.proxies.create(
        {
            "id": "open",
            "protocol": "socks5",
            "listen": f"127.0.0.1:{open_port}",
            "enabled": True,
            "no_auth": True,
        }
    )
    node.store.proxies.create(
        {"id": "closed", "protocol": "socks5", "listen": f"127.0.0.1:{closed_port}", "enabled": True}
    )
    await node.services.start()
    try:
        async with http_origin() as origin:
            url = f"http://127.0.0.1:{origin}/100"
            code, body, _ = await run_tool(curl, "-sS", "--socks5-hostname", f"127.0.0.1:{open_port}", url)
            assert code == 0 and body == BLOB[:100]
            code, body, _ = await run_tool(curl, "-sS", "--socks5-hostname", f"127.0.0.1:{closed_port}", url)
            assert code != 0 and body == b""
    finally:
        await node.services.stop()
