"""Interop with sing-box (an independent Go implementation) in both directions."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import struct
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from hy2scale.hysteria import AuthError, ClientConfig, Hy2Client, Hy2Server, ServerConfig
from hy2scale.hysteria.direct import DirectHandler
from hy2scale.hysteria.tls import self_signed
from tests.conftest import free_port, sing_box

pytestmark = pytest.mark.interop
PASSWORD = "interop-secret"
OBFS = "obfs-secret"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    cert, key = self_signed("hy2.test")
    d = tmp_path_factory.mktemp("certs")
    (d / "cert.pem").write_text(cert)
    (d / "key.pem").write_text(key)
    return d / "cert.pem", d / "key.pem"


@contextlib.contextmanager
def run_sing_box(config: dict[str, object], workdir: Path) -> Iterator[subprocess.Popen[bytes]]:
    binary = sing_box()
    path = workdir / f"sb-{os.getpid()}-{id(config)}.json"
    path.write_text(json.dumps(config))
    log = open(workdir / "sing-box.log", "ab")
    proc = subprocess.Popen([binary, "run", "-c", str(path)], stdout=log, stderr=log)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


def _obfs(enabled: bool) -> dict[str, object]:
    return {"obfs": {"type": "salamander", "password": OBFS}} if enabled else {}


def _tls_server(certs: tuple[Path, Path]) -> dict[str, object]:
    return {"enabled": True, "certificate_path": str(certs[0]), "key_path": str(certs[1]), "alpn": ["h3"]}


@pytest.fixture
async def tcp_echo() -> AsyncIterator[int]:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


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


async def _echo_stream(stream: object, payload: bytes) -> bytes:
    async def writer() -> None:
        for i in range(0, len(payload), 65536):
            stream.write(payload[i : i + 65536])  # type: ignore[attr-defined]
            await stream.drain()  # type: ignore[attr-defined]

    task = asyncio.ensure_future(writer())
    got = bytearray()
    while len(got) < len(payload):
        data = await asyncio.wait_for(stream.read(65536), 30)  # type: ignore[attr-defined]
        if not data:
            break
        got += data
    await task
    return bytes(got)


# -- our client -> sing-box server --------------------------------------------------------------


async def _connect_with_retry(config: ClientConfig, proc: subprocess.Popen[bytes]) -> Hy2Client:
    """sing-box needs a moment to bind; connect attempts are bounded."""
    last: Exception | None = None
    for _ in range(20):
        assert proc.poll() is None, "sing-box exited"
        client = Hy2Client(config)
        try:
            await client.connect()
            return client
        except AuthError:
            raise
        except Exception as exc:
            last = exc
            await asyncio.sleep(0.25)
    raise AssertionError(f"could not connect to sing-box: {last}")


@pytest.mark.parametrize("backend", ["aioquic", "qh3"])
@pytest.mark.parametrize("obfs", [False, True])
async def test_our_client_to_sing_box_server(
    certs: tuple[Path, Path], tmp_path: Path, tcp_echo: int, udp_echo: int, obfs: bool, backend: str
) -> None:
    port = free_port()
    config = {
        "log": {"level": "warn"},
        "inbounds": [
            {
                "type": "hysteria2",
                "listen": "127.0.0.1",
                "listen_port": port,
                "users": [{"password": PASSWORD}],
                "tls": _tls_server(certs),
                **_obfs(obfs),
            }
        ],
        "outbounds": [{"type": "direct"}],
    }
    with run_sing_box(config, tmp_path) as proc:
        cfg = ClientConfig(
            server="127.0.0.1",
            ports=port,
            password=PASSWORD,
            sni="hy2.test",
            insecure=True,
            obfs_password=OBFS if obfs else "",
            connect_timeout=3,
            backend=backend,
        )
        client = await _connect_with_retry(cfg, proc)
        try:
            payload = os.urandom(1 << 20)
            stream = await client.tcp(f"127.0.0.1:{tcp_echo}")
            assert await _echo_stream(stream, payload) == payload
            stream.close()

            session = await client.udp()
            for data in (b"hello", os.urandom(3000)):  # 3000 bytes: three fragments
                await session.send(data, f"127.0.0.1:{udp_echo}")
                got, addr = await asyncio.wait_for(session.recv(), 10)
                assert got == data and addr.endswith(f":{udp_echo}")
        finally:
            await client.close()

        with pytest.raises(AuthError) as info:
            await _connect_with_retry(
                ClientConfig(
                    server="127.0.0.1",
                    ports=port,
                    password="wrong",
                    sni="hy2.test",
                    insecure=True,
                    obfs_password=OBFS if obfs else "",
                    connect_timeout=3,
                    backend=backend,
                ),
                proc,
            )
        assert info.value.status == 404


# -- sing-box client (SOCKS in, hysteria2 out) -> our server -------------------------------------


async def _socks_greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"\x05\x01\x00")
    await writer.drain()
    assert await reader.readexactly(2) == b"\x05\x00"


async def _socks_reply(reader: asyncio.StreamReader) -> tuple[int, tuple[str, int]]:
    head = await reader.readexactly(4)
    atyp = head[3]
    if atyp == 1:
        host = socket.inet_ntop(socket.AF_INET, await reader.readexactly(4))
    elif atyp == 4:
        host = socket.inet_ntop(socket.AF_INET6, await reader.readexactly(16))
    else:
        host = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
    (port,) = struct.unpack("!H", await reader.readexactly(2))
    return head[1], (host, port)


async def _socks_open(socks_port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    for _ in range(40):
        try:
            return await asyncio.open_connection("127.0.0.1", socks_port)
        except OSError:
            await asyncio.sleep(0.25)
    raise AssertionError("sing-box SOCKS inbound did not come up")


async def _socks_connect(
    socks_port: int, target_port: int
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await _socks_open(socks_port)
    await _socks_greet(reader, writer)
    writer.write(b"\x05\x01\x00\x01" + socket.inet_aton("127.0.0.1") + struct.pack("!H", target_port))
    await writer.drain()
    rep, _ = await asyncio.wait_for(_socks_reply(reader), 15)
    if rep != 0:
        writer.close()
        raise ConnectionRefusedError(f"SOCKS reply {rep}")
    return reader, writer


class _SocksUdp(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.queue.put_nowait(data)


def _sing_box_client(port: int, socks_port: int, password: str, obfs: bool) -> dict[str, object]:
    return {
        "log": {"level": "warn"},
        "inbounds": [{"type": "mixed", "listen": "127.0.0.1", "listen_port": socks_port}],
        "outbounds": [
            {
                "type": "hysteria2",
                "server": "127.0.0.1",
                "server_port": port,
                "password": password,
                "tls": {"enabled": True, "server_name": "hy2.test", "insecure": True, "alpn": ["h3"]},
                **_obfs(obfs),
            }
        ],
    }


class _CountingHandler(DirectHandler):
    def __init__(self) -> None:
        super().__init__([PASSWORD])
        self.auth_results: list[bool] = []

    async def authenticate(self, remote: tuple[str, int], auth: str, client_rx: int) -> str | None:
        result = await super().authenticate(remote, auth, client_rx)
        self.auth_results.append(result is not None)
        return result


@pytest.mark.parametrize("obfs", [False, True])
async def test_sing_box_client_to_our_server(
    certs: tuple[Path, Path], tmp_path: Path, tcp_echo: int, udp_echo: int, obfs: bool
) -> None:
    handler = _CountingHandler()
    server = Hy2Server(
        ServerConfig(
            listen="127.0.0.1:0", cert=str(certs[0]), key=str(certs[1]), obfs_password=OBFS if obfs else ""
        ),
        handler,
    )
    await server.start()
    socks_port = free_port()
    try:
        with run_sing_box(_sing_box_client(server.ports[0], socks_port, PASSWORD, obfs), tmp_path):
            reader, writer = await _socks_connect(socks_port, tcp_echo)
            payload = os.urandom(1 << 20)

            async def push() -> None:
                for i in range(0, len(payload), 65536):
                    writer.write(payload[i : i + 65536])
                    await writer.drain()

            task = asyncio.ensure_future(push())
            got = await asyncio.wait_for(reader.readexactly(len(payload)), 60)
            await task
            assert got == payload
            writer.close()

            # UDP ASSOCIATE; the 3000-byte datagram crosses our server as fragments.
            ctl_reader, ctl_writer = await _socks_open(socks_port)
            await _socks_greet(ctl_reader, ctl_writer)
            ctl_writer.write(b"\x05\x03\x00\x01\x00\x00\x00\x00\x00\x00")
            await ctl_writer.drain()
            rep, relay = await asyncio.wait_for(_socks_reply(ctl_reader), 15)
            assert rep == 0
            relay_host = "127.0.0.1" if relay[0] in ("0.0.0.0", "::") else relay[0]
            transport, proto = await asyncio.get_running_loop().create_datagram_endpoint(
                _SocksUdp, local_addr=("127.0.0.1", 0)
            )
            try:
                header = b"\x00\x00\x00\x01" + socket.inet_aton("127.0.0.1") + struct.pack("!H", udp_echo)
                for data in (b"ping", os.urandom(3000)):
                    transport.sendto(header + data, (relay_host, relay[1]))
                    reply = await asyncio.wait_for(proto.queue.get(), 15)
                    assert reply[len(header) :] == data
            finally:
                transport.close()
                ctl_writer.close()
        assert handler.auth_results and all(handler.auth_results)

        with run_sing_box(_sing_box_client(server.ports[0], socks_port, "wrong", obfs), tmp_path):
            with pytest.raises((ConnectionError, asyncio.IncompleteReadError, OSError)):
                reader, writer = await _socks_connect(socks_port, tcp_echo)
                writer.write(b"x")
                await writer.drain()
                await asyncio.wait_for(reader.readexactly(1), 15)
        assert handler.auth_results[-1] is False
    finally:
        await server.stop()


async def test_sing_box_port_hopping_client_to_our_multi_port_server(
    certs: tuple[Path, Path], tmp_path: Path, tcp_echo: int
) -> None:
    ports = sorted({free_port() for _ in range(3)})
    server = Hy2Server(
        ServerConfig(listen="127.0.0.1:" + ",".join(map(str, ports)), cert=str(certs[0]), key=str(certs[1])),
        DirectHandler([PASSWORD]),
    )
    await server.start()
    socks_port = free_port()
    config = _sing_box_client(ports[0], socks_port, PASSWORD, False)
    outbound = config["outbounds"][0]  # type: ignore[index]
    del outbound["server_port"]
    outbound["server_ports"] = [f"{p}:{p}" for p in ports]
    outbound["hop_interval"] = "5s"
    try:
        with run_sing_box(config, tmp_path):
            for _ in range(3):
                reader, writer = await _socks_connect(socks_port, tcp_echo)
                payload = os.urandom(100_000)
                writer.write(payload)
                await writer.drain()
                assert await asyncio.wait_for(reader.readexactly(len(payload)), 30) == payload
                writer.close()
        assert len(server.sessions) <= 1
    finally:
        await server.stop()
