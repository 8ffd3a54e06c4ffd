"""ss-local (shadowsocks-libev) as a real SIP004 client of our Shadowsocks service."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hy2scale.accounts import Accounts
from hy2scale.services.manager import ServiceManager
from tests.conftest import free_port, require_tool
from tests.unit.test_svc_fixtures import BLOB, http_origin, make_node, run_tool, user

pytestmark = pytest.mark.interop

SIZE = 3 * 1024 * 1024


async def wait_port(port: int, proc: asyncio.subprocess.Process) -> None:
    for _ in range(100):
        if proc.returncode is not None:
            raise RuntimeError("client exited early")
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"port {port} never opened")


@contextlib.asynccontextmanager
async def ss_local(server_port: int, password: str, method: str) -> AsyncIterator[int]:
    exe = require_tool("ss-local")
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        exe,
        "-s",
        "127.0.0.1",
        "-p",
        str(server_port),
        "-l",
        str(port),
        "-b",
        "127.0.0.1",
        "-k",
        password,
        "-m",
        method,
        "-t",
        "10",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await wait_port(port, proc)
        yield port
    finally:
        if proc.returncode is None:
            proc.terminate()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), 5)
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


@contextlib.asynccontextmanager
async def ss_node(tmp_path: Path, method: str) -> AsyncIterator[tuple[object, int]]:
    node = make_node(
        tmp_path, [user("alice", "main-pw", proxy_passwords={"ss": "alice ss pw"}), user("bob", "bob-pw")]
    )
    port = free_port()
    node.store.sections.put("shadowsocks", {"listen": f"127.0.0.1:{port}", "enabled": True, "method": method})
    node.accounts = Accounts(node)
    node.services = ServiceManager(node)
    await node.services.start()
    try:
        assert node.services.status() == {"ss": {"running": True, "error": ""}}
        yield node, port
    finally:
        await node.services.stop()


@pytest.mark.parametrize("method", ["aes-128-gcm", "aes-256-gcm", "chacha20-ietf-poly1305"])
async def test_ss_local_3mib_both_ways(method: str, tmp_path: Path) -> None:
    curl = require_tool("curl")
    async with (
        ss_node(tmp_path, method) as (node, port),
        http_origin() as origin,
        ss_local(port, "alice ss pw", method) as socks,
    ):
        code, body, _ = await run_tool(
            curl, "-sS", "--socks5-hostname", f"127.0.0.1:{socks}", f"http://127.0.0.1:{origin}/{SIZE}"
        )
        assert code == 0 and hashlib.sha256(body).digest() == hashlib.sha256(BLOB[:SIZE]).digest()
        payload = BLOB[SIZE : 2 * SIZE]
        code, out, _ = await run_tool(
            curl,
            "-sS",
            "--socks5-hostname",
            f"127.0.0.1:{socks}",
            "--data-binary",
            "@-",
            f"http://127.0.0.1:{origin}/sha256",
            stdin=payload,
        )
        assert code == 0 and out.decode() == hashlib.sha256(payload).hexdigest()
        assert node.accounts.traffic_used("id-alice") >= 2 * SIZE


async def test_ss_local_wrong_key_gets_nothing(tmp_path: Path) -> None:
    curl = require_tool("curl")
    async with (
        ss_node(tmp_path, "aes-256-gcm") as (node, port),
        http_origin() as origin,
        ss_local(port, "not a user", "aes-256-gcm") as socks,
    ):
        code, body, _ = await run_tool(
            curl,
            "-sS",
            "--max-time",
            "3",
            "--socks5-hostname",
            f"127.0.0.1:{socks}",
            f"http://127.0.0.1:{origin}/100",
        )
        assert code != 0 and body == b""
        assert node.accounts.sessions() == []
