"""curl as a real SOCKS5 and HTTP proxy client against our services."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from hy2scale.accounts import Accounts
from hy2scale.services.manager import ServiceManager
from tests.conftest import free_port, require_tool
from tests.unit.test_svc_fixtures import BLOB, http_origin, make_node, run_tool, user

pytestmark = pytest.mark.interop


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[SimpleNamespace]:
    node = make_node(
        tmp_path,
        [
            user("alice", "alice-pw"),
            user("old", "old-pw", expiry_date="2001-01-01"),
            user("heavy", "heavy-pw", traffic_limit=1024 * 1024, traffic_used=1024 * 1024),
            user("nosocks", "ns-pw", proxy_disabled=["socks5", "http"]),
            user("limited", "lim-pw", traffic_limit=1024 * 1024),
        ],
    )
    node.store.proxies.create(
        {"id": "socks5", "protocol": "socks5", "listen": f"127.0.0.1:{free_port()}", "enabled": True}
    )
    node.store.proxies.create(
        {"id": "http", "protocol": "http", "listen": f"127.0.0.1:{free_port()}", "enabled": True}
    )
    node.accounts = Accounts(node)
    node.services = ServiceManager(node)
    await node.accounts.start()
    await node.services.start()
    yield node
    await node.services.stop()
    await node.accounts.stop()


def proxy_url(node: SimpleNamespace, service_id: str) -> str:
    listen = node.store.proxies.get(service_id)["listen"]
    return {"socks5": f"socks5h://{listen}", "http": f"http://{listen}"}[service_id]


async def curl(
    node: SimpleNamespace, service_id: str, creds: str, url: str, *extra: str
) -> tuple[int, bytes]:
    exe = require_tool("curl")
    code, out, _ = await run_tool(
        exe, "-sS", "--max-time", "20", "-x", proxy_url(node, service_id), "-U", creds, *extra, url
    )
    return code, out


@pytest.mark.parametrize("service_id", ["socks5", "http"])
async def test_curl_auth_matrix(node: SimpleNamespace, service_id: str) -> None:
    async with http_origin() as port:
        url = f"http://127.0.0.1:{port}/200000"
        code, body = await curl(node, service_id, "alice:alice-pw", url)
        assert code == 0 and body == BLOB[:200000]
        for creds in ("alice:wrong", "old:old-pw", "heavy:heavy-pw", "nosocks:ns-pw", "ghost:x"):
            code, body = await curl(node, service_id, creds, url)
            assert code != 0 or body != BLOB[:200000], creds
    for _ in range(100):  # every connection closes again once curl is gone
        if not node.accounts.sessions():
            break
        await asyncio.sleep(0.02)
    assert node.accounts.sessions() == []
    used = node.accounts.traffic_used("id-alice")
    assert used >= 200000


async def test_curl_http_keepalive_connect_and_upload(node: SimpleNamespace) -> None:
    async with http_origin() as port:
        urls = [f"http://127.0.0.1:{port}/{n}" for n in (1000, 50000, 3)]
        # Three requests on one proxy connection (keep-alive through absolute-form forwarding).
        args = [require_tool("curl"), "-sS"]
        for url in urls:
            args += ["-x", proxy_url(node, "http"), "-U", "alice:alice-pw", url, "--next"]
        code, body, _ = await run_tool(*args[:-1])
        assert code == 0 and body == BLOB[:1000] + BLOB[:50000] + BLOB[:3]
        # CONNECT tunnel (-p), with a 3 MiB upload hashed at the origin.
        payload = BLOB[: 3 * 1024 * 1024]
        exe = require_tool("curl")
        code, out, _ = await run_tool(
            exe,
            "-sS",
            "-p",
            "-x",
            proxy_url(node, "http"),
            "-U",
            "alice:alice-pw",
            "--data-binary",
            "@-",
            f"http://127.0.0.1:{port}/sha256",
            stdin=payload,
        )
        assert code == 0 and out.decode() == hashlib.sha256(payload).hexdigest()


async def test_curl_without_credentials_gets_407(node: SimpleNamespace) -> None:
    exe = require_tool("curl")
    _code, out, _ = await run_tool(
        exe,
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-x",
        proxy_url(node, "http"),
        "http://127.0.0.1:9/",
    )
    assert out == b"407"


async def test_limit_cuts_download_then_refuses(node: SimpleNamespace) -> None:
    async with http_origin() as port:
        url = f"http://127.0.0.1:{port}/{5 * 1024 * 1024}"
        code, body = await curl(node, "socks5", "limited:lim-pw", url)
        assert code != 0
        assert len(body) < 5 * 1024 * 1024
        used = node.accounts.traffic_used("id-limited")
        assert 1024 * 1024 <= used < 5 * 1024 * 1024
        code, body = await curl(node, "socks5", "limited:lim-pw", f"http://127.0.0.1:{port}/10")
        assert code != 0 and body == b""
        # The limit survives a flush, and a reset lets the user in again at once.
        await node.accounts.flush()
        assert node.store.users.get("id-limited")["traffic_used"] == used
        node.store.users.reset_traffic("id-limited")
        await node.bus.publish("users")
        code, body = await curl(node, "socks5", "limited:lim-pw", f"http://127.0.0.1:{port}/10")
        assert code == 0 and body == BLOB[:10]


async def test_kick_refuses_device_only(node: SimpleNamespace) -> None:
    exe = require_tool("curl")
    async with http_origin() as port:
        # A slow upload keeps the device online while it is kicked.
        slow = asyncio.ensure_future(
            run_tool(
                exe,
                "-sS",
                "--limit-rate",
                "100k",
                "-x",
                proxy_url(node, "socks5"),
                "-U",
                "alice:alice-pw",
                "--data-binary",
                "@-",
                f"http://127.0.0.1:{port}/sha256",
                stdin=BLOB[: 2 * 1024 * 1024],
            )
        )
        for _ in range(100):
            if node.accounts.sessions():
                break
            await asyncio.sleep(0.05)
        [device] = node.accounts.sessions()
        assert device["key"] == "alice|127.0.0.1|socks5"
        assert node.accounts.kick(device["key"])
        code, _, _ = await asyncio.wait_for(slow, 20)
        assert code != 0
        code, body = await curl(node, "socks5", "alice:alice-pw", f"http://127.0.0.1:{port}/10")
        assert code != 0 and body == b""
        # Same user from another address, and the same address on another proxy, are not blocked.
        code, body = await curl(
            node, "socks5", "alice:alice-pw", f"http://127.0.0.1:{port}/10", "--interface", "127.0.0.2"
        )
        assert code == 0 and body == BLOB[:10]
        code, body = await curl(node, "http", "alice:alice-pw", f"http://127.0.0.1:{port}/10")
        assert code == 0 and body == BLOB[:10]
