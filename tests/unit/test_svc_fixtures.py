"""Helpers shared by the svc tests: a node with a real store, a local HTTP origin, a UDP echo, tool runs."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from hy2scale.bus import ChangeBus
from hy2scale.certs import CertStore
from hy2scale.services.exits import DirectExits
from hy2scale.store import Store


def make_node(data_dir: Path, users: list[dict[str, Any]] | None = None) -> SimpleNamespace:
    """The parts of a Node the services use, on a real store in ``data_dir``, exits direct."""
    store = Store.open(data_dir)
    store.sections.put("server", {**store.sections.get("server"), "password": "system-secret"})
    for row in users or []:
        store.users.create(row)
    return SimpleNamespace(
        store=store,
        bus=ChangeBus(),
        exits=DirectExits(),
        certs=CertStore(data_dir / "tls"),
        data_dir=data_dir,
    )


def user(name: str, password: str = "pw", **fields: Any) -> dict[str, Any]:
    return {"id": f"id-{name}", "username": name, "password": password, "enabled": True, **fields}


BLOB = os.urandom(8 * 1024 * 1024)


async def _origin_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """GET /<n> answers the first n bytes of BLOB; POST /sha256 answers the body's SHA-256 hex."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {
                k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)
            }
            if method == "POST":
                digest = hashlib.sha256()
                left = int(headers.get("content-length", "0"))
                while left:
                    chunk = await reader.read(min(left, 65536))
                    if not chunk:
                        return
                    digest.update(chunk)
                    left -= len(chunk)
                body = digest.hexdigest().encode()
            else:
                body = BLOB[: int(path.strip("/") or 0)]
            writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()


@contextlib.asynccontextmanager
async def http_origin() -> AsyncIterator[int]:
    """A keep-alive HTTP/1.1 origin on 127.0.0.1; yields its port."""
    server = await asyncio.start_server(_origin_client, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


@contextlib.asynccontextmanager
async def udp_echo() -> AsyncIterator[int]:
    """A UDP echo server on 127.0.0.1 prefixing replies with b"echo:"; yields its port."""

    class Echo(asyncio.DatagramProtocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport

        def datagram_received(self, data: bytes, addr: tuple) -> None:
            self.transport.sendto(b"echo:" + data, addr)

    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        Echo, local_addr=("127.0.0.1", 0)
    )
    try:
        yield transport.get_extra_info("sockname")[1]
    finally:
        transport.close()


async def run_tool(*args: str, stdin: bytes | None = None, timeout: float = 60.0) -> tuple[int, bytes, bytes]:
    """Run an external client without blocking the loop the services run on."""
    proc = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode or 0, out, err


def test_store_users_add_traffic_accumulates(tmp_path: Path) -> None:
    node = make_node(tmp_path, [user("a")])
    node.store.users.add_traffic({"id-a": (3, 4)})
    node.store.users.add_traffic({"id-a": (1, 0)})
    assert node.store.users.get("id-a")["traffic_used"] == 8
    node.store.close()
