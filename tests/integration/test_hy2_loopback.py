"""Our Hysteria 2 client against our server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hy2scale.hysteria import (
    AuthError,
    ClientConfig,
    ClosedError,
    ConnectError,
    DialError,
    Hy2Client,
    Hy2Error,
    Hy2Server,
    Hy2Stream,
    MasqueradeConfig,
    ServerConfig,
    TcpRequest,
)
from hy2scale.hysteria.direct import DirectHandler
from hy2scale.hysteria.quic import UDP_GRO
from hy2scale.hysteria.tls import cert_sha256, self_signed
from tests.conftest import free_port

PASSWORD = "correct horse"
# Client QUIC stacks; the server always runs on aioquic.
BACKENDS = ["aioquic", "qh3"]


@pytest.fixture(scope="module")
def identity() -> tuple[str, str]:
    return self_signed("hy2.test")


@pytest.fixture
async def tcp_echo() -> AsyncIterator[int]:
    """Echoes everything; with the prefix b"!half:" it answers only after the client's EOF."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                head = await reader.readexactly(6)
            except asyncio.IncompleteReadError as exc:
                head = exc.partial
            if head == b"!half:":
                writer.write(b"got:" + await reader.read())
            else:
                writer.write(head)
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            await writer.drain()
        except ConnectionError:
            pass
        finally:
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
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(_UdpEcho, local_addr=("127.0.0.1", 0))
    yield transport.get_extra_info("sockname")[1]
    transport.close()


async def _server(identity: tuple[str, str], handler: object = None, **kw: object) -> Hy2Server:
    cert, key = identity
    cfg = ServerConfig(listen=kw.pop("listen", "127.0.0.1:0"), cert=cert, key=key, **kw)  # type: ignore[arg-type]
    server = Hy2Server(cfg, handler or DirectHandler([PASSWORD]))  # type: ignore[arg-type]
    await server.start()
    return server


async def _client(port: int | str, **kw: object) -> Hy2Client:
    kw.setdefault("password", PASSWORD)
    kw.setdefault("insecure", True)
    client = Hy2Client(ClientConfig(server="127.0.0.1", ports=port, sni="hy2.test", **kw))  # type: ignore[arg-type]
    await client.connect()
    return client


async def _echo(client: Hy2Client, port: int, payload: bytes) -> bytes:
    stream = await client.tcp(f"127.0.0.1:{port}")

    async def writer() -> None:
        for i in range(0, len(payload), 65536):
            stream.write(payload[i : i + 65536])
            await stream.drain()
        stream.write_eof()

    task = asyncio.ensure_future(writer())
    got = bytearray()
    while len(got) < len(payload):
        data = await stream.read(65536)
        if not data:
            break
        got += data
    await task
    stream.close()
    return bytes(got)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("obfs", ["", "salamander-pass"])
async def test_tcp_echo_one_mib(identity: tuple[str, str], tcp_echo: int, obfs: str, backend: str) -> None:
    server = await _server(identity, obfs_password=obfs)
    client = await _client(server.ports[0], backend=backend, obfs_password=obfs)
    try:
        payload = os.urandom(1 << 20)
        assert await _echo(client, tcp_echo, payload) == payload
        assert client.rtt > 0
    finally:
        await client.close()
        await server.stop()


async def test_tcp_echo_without_udp_gro(identity: tuple[str, str], tcp_echo: int) -> None:
    """Kernels without UDP_GRO get one recvfrom per datagram: that path must carry data too."""
    server = await _server(identity)
    for endpoint in server.endpoints:
        endpoint.sock.setsockopt(socket.SOL_UDP, UDP_GRO, 0)
        endpoint._gro = False
    client = await _client(server.ports[0])
    try:
        payload = os.urandom(1 << 20)
        assert await _echo(client, tcp_echo, payload) == payload
    finally:
        await client.close()
        await server.stop()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_dial_error_carries_server_message(identity: tuple[str, str], backend: str) -> None:
    server = await _server(identity)
    client = await _client(server.ports[0], backend=backend)
    closed_port = free_port()
    try:
        with pytest.raises(DialError) as info:
            await client.tcp(f"127.0.0.1:{closed_port}")
        assert f"127.0.0.1:{closed_port}" in info.value.message
        # The connection stays usable after a refused request.
        with pytest.raises(DialError):
            await client.tcp(f"127.0.0.1:{closed_port}")
    finally:
        await client.close()
        await server.stop()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_half_close_keeps_the_reply(identity: tuple[str, str], tcp_echo: int, backend: str) -> None:
    server = await _server(identity)
    client = await _client(server.ports[0], backend=backend)
    try:
        stream = await client.tcp(f"127.0.0.1:{tcp_echo}")
        stream.write(b"!half:hello")
        stream.write_eof()
        assert await stream.readexactly(9) == b"got:hello"
        assert await stream.read(100) == b""
        stream.close()
        await stream.wait_closed()
    finally:
        await client.close()
        await server.stop()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("omit_tp", [False, True])
async def test_udp_fragmented_echo(
    identity: tuple[str, str], udp_echo: int, omit_tp: bool, backend: str
) -> None:
    server = await _server(identity)
    if backend == "qh3" and omit_tp:
        # qh3 cannot hide the TP while still receiving DATAGRAMs: refused up front.
        with pytest.raises(ConnectError, match="aioquic"):
            await _client(server.ports[0], backend=backend, omit_datagram_tp=omit_tp)
        await server.stop()
        return
    client = await _client(server.ports[0], backend=backend, omit_datagram_tp=omit_tp)
    try:
        (session_state,) = server.sessions
        advertised = session_state.conn.quic._remote_max_datagram_frame_size
        assert (advertised is None) == omit_tp
        session = await client.udp()
        for payload in (b"small", os.urandom(3000)):  # 3000 bytes need three fragments
            await session.send(payload, f"127.0.0.1:{udp_echo}")
            data, addr = await asyncio.wait_for(session.recv(), 10)
            assert data == payload and addr == f"127.0.0.1:{udp_echo}"
        session.close()
        with pytest.raises(ClosedError):
            await session.send(b"x", f"127.0.0.1:{udp_echo}")
    finally:
        await client.close()
        await server.stop()


async def test_udp_sessions_are_reaped_when_idle(identity: tuple[str, str], udp_echo: int) -> None:
    server = await _server(identity, udp_idle_timeout=0.5)
    client = await _client(server.ports[0])
    try:
        session = await client.udp()
        await session.send(b"ping", f"127.0.0.1:{udp_echo}")
        await asyncio.wait_for(session.recv(), 10)
        (state,) = server.sessions
        assert len(state.udp) == 1
        for _ in range(100):
            if not state.udp:
                break
            await asyncio.sleep(0.1)
        assert not state.udp
        # A new message with the same id opens a fresh session.
        await session.send(b"again", f"127.0.0.1:{udp_echo}")
        assert (await asyncio.wait_for(session.recv(), 10))[0] == b"again"
    finally:
        await client.close()
        await server.stop()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_udp_disabled_on_the_server(identity: tuple[str, str], backend: str) -> None:
    server = await _server(identity, udp=False)
    client = await _client(server.ports[0], backend=backend)
    try:
        assert not client.udp_enabled
        with pytest.raises(Hy2Error, match="UDP not enabled"):
            await client.udp()
    finally:
        await client.close()
        await server.stop()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_wrong_obfs_password_times_out(identity: tuple[str, str], backend: str) -> None:
    server = await _server(identity, obfs_password="server-side")
    try:
        with pytest.raises(ConnectError):
            await _client(server.ports[0], backend=backend, obfs_password="client-side", connect_timeout=1.5)
    finally:
        await server.stop()


async def test_garbage_packets_do_not_disturb_the_server(identity: tuple[str, str], tcp_echo: int) -> None:
    import random
    import socket

    server = await _server(identity)
    rng = random.Random(1234)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for i in range(300):
            size = rng.choice([1, 7, 40, 1200, 1300, 1500])
            packet = bytes(rng.getrandbits(8) for _ in range(size))
            if i % 3 == 0:
                packet = b"\xc0\x00\x00\x00\x01\x08" + packet  # looks like a long-header Initial
            sock.sendto(packet, ("127.0.0.1", server.ports[0]))
        # A well-formed Initial header with an undecryptable payload keeps no connection state.
        fake = b"\xc0\x00\x00\x00\x01\x08" + os.urandom(8) + b"\x08" + os.urandom(8) + b"\x00\x44\xc8"
        sock.sendto(fake + os.urandom(1250 - len(fake)), ("127.0.0.1", server.ports[0]))
    for _ in range(50):
        await asyncio.sleep(0.02)
    assert not server.sessions
    client = await _client(server.ports[0])
    try:
        payload = os.urandom(50_000)
        assert await _echo(client, tcp_echo, payload) == payload
        assert len(server.sessions) == 1
    finally:
        await client.close()
        await server.stop()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_wrong_password_gets_masquerade_404(identity: tuple[str, str], backend: str) -> None:
    server = await _server(identity)
    try:
        with pytest.raises(AuthError) as info:
            await _client(server.ports[0], backend=backend, password="wrong")
        assert info.value.status == 404
    finally:
        await server.stop()


async def _h3_request(client: Hy2Client, method: str, path: str) -> tuple[dict[str, str], bytes]:
    """A plain HTTP/3 request over the client's connection (a browser's view of the server)."""
    from aioquic.h3.events import DataReceived, HeadersReceived

    conn, h3 = client.conn, client._h3
    assert conn is not None and h3 is not None
    sid = conn.open_stream()
    done: asyncio.Future[None] = conn.loop.create_future()
    headers: dict[str, str] = {}
    body = bytearray()
    original = client._h3_event

    def spy(event: object) -> None:
        for h3_event in h3.handle_event(event):  # type: ignore[arg-type]
            if getattr(h3_event, "stream_id", None) != sid:
                continue
            if isinstance(h3_event, HeadersReceived):
                headers.update({k.decode(): v.decode() for k, v in h3_event.headers})
            elif isinstance(h3_event, DataReceived):
                body.extend(h3_event.data)
            if h3_event.stream_ended and not done.done():  # type: ignore[attr-defined]
                done.set_result(None)

    client._h3_event = spy  # type: ignore[method-assign]
    try:
        h3.send_headers(
            sid,
            [
                (b":method", method.encode()),
                (b":scheme", b"https"),
                (b":authority", b"site"),
                (b":path", path.encode()),
            ],
            end_stream=True,
        )
        conn.schedule_transmit()
        await asyncio.wait_for(done, 10)
    finally:
        client._h3_event = original  # type: ignore[method-assign]
    return headers, bytes(body)


async def test_masquerade_default_string_and_file(identity: tuple[str, str], tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<h1>hello</h1>")
    cases = [
        (MasqueradeConfig(), "/", "404", b"404 page not found\n"),
        (MasqueradeConfig(type="string", content="hi there", status=200), "/x", "200", b"hi there"),
        (MasqueradeConfig(type="file", directory=str(site)), "/", "200", b"<h1>hello</h1>"),
        (
            MasqueradeConfig(type="file", directory=str(site)),
            "/../../etc/passwd",
            "404",
            b"404 page not found\n",
        ),
    ]
    for masq, path, status, body in cases:
        server = await _server(identity, masquerade=masq)
        client = await _client(server.ports[0])
        try:
            headers, got = await _h3_request(client, "GET", path)
            assert headers[":status"] == status and got == body
        finally:
            await client.close()
            await server.stop()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_200_concurrent_streams(identity: tuple[str, str], tcp_echo: int, backend: str) -> None:
    server = await _server(identity)
    client = await _client(server.ports[0], backend=backend)
    try:
        # All 200 are open at once (more than aioquic's default limit of 128 incoming streams).
        streams = await asyncio.wait_for(
            asyncio.gather(*(client.tcp(f"127.0.0.1:{tcp_echo}") for _ in range(200))), 60
        )
        payloads = [os.urandom(2000 + i * 37) for i in range(200)]

        async def echo(stream: Hy2Stream, payload: bytes) -> bytes:
            stream.write(payload)
            await stream.drain()
            return await stream.readexactly(len(payload))

        results = await asyncio.wait_for(asyncio.gather(*map(echo, streams, payloads)), 60)
        assert results == payloads
        for stream in streams:
            stream.close()
    finally:
        await client.close()
        await server.stop()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_stream_credit_is_renewed_past_the_limit(
    identity: tuple[str, str], tcp_echo: int, backend: str
) -> None:
    server = await _server(identity, max_incoming_streams=64)
    client = await _client(server.ports[0], backend=backend)
    try:
        for _ in range(5):  # 250 streams in batches, far more than the 64 the server allows at once
            payloads = [os.urandom(100) for _ in range(50)]
            results = await asyncio.wait_for(
                asyncio.gather(*(_echo(client, tcp_echo, p) for p in payloads)), 60
            )
            assert results == payloads
    finally:
        await client.close()
        await server.stop()


class _HoldingHandler(DirectHandler):
    """Accepts every request and keeps the stream unread until released."""

    def __init__(self) -> None:
        super().__init__([PASSWORD])
        self.streams: list[object] = []
        self.release = asyncio.Event()
        self.received = bytearray()
        self.write_error: BaseException | None = None

    async def handle_tcp(self, request: TcpRequest) -> None:
        stream = await request.accept()
        self.streams.append(stream)
        if request.addr == "write:1":
            try:
                for _ in range(10_000):
                    stream.write(b"x" * 16384)
                    await stream.drain()
            except ConnectionError as exc:
                self.write_error = exc
            return
        await self.release.wait()
        while data := await stream.read(65536):
            self.received += data
        stream.close()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_slow_reader_back_pressure(identity: tuple[str, str], backend: str) -> None:
    handler = _HoldingHandler()
    window = 256 * 1024
    server = await _server(identity, handler, stream_window=window, conn_window=4 * window)
    client = await _client(server.ports[0], backend=backend)
    try:
        stream = await client.tcp("hold:1")
        chunk = os.urandom(64 * 1024)
        sent = 0
        blocked = False
        for _ in range(400):  # 25 MiB at most
            stream.write(chunk)
            sent += len(chunk)
            try:
                await asyncio.wait_for(stream.drain(), 1.0)
            except TimeoutError:
                blocked = True
                break
        assert blocked, "drain() never waited although the reader does not read"
        (server_stream,) = handler.streams
        # The receiver holds at most one window; the sender holds what was not acknowledged.
        assert len(server_stream._buf) <= window
        handler.release.set()
        await asyncio.wait_for(stream.drain(), 30)
        stream.write_eof()
        for _ in range(300):
            if len(handler.received) == sent:
                break
            await asyncio.sleep(0.1)
        assert len(handler.received) == sent
        assert bytes(handler.received[: len(chunk)]) == chunk
    finally:
        await client.close()
        await server.stop()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_reader_close_stops_the_writer(identity: tuple[str, str], backend: str) -> None:
    handler = _HoldingHandler()
    server = await _server(identity, handler)
    client = await _client(server.ports[0], backend=backend)
    try:
        stream = await client.tcp("write:1")
        assert len(await stream.readexactly(16384)) == 16384
        stream.close()  # STOP_SENDING(0) + FIN
        for _ in range(100):
            if handler.write_error is not None:
                break
            await asyncio.sleep(0.1)
        assert isinstance(handler.write_error, ConnectionResetError)
    finally:
        await client.close()
        await server.stop()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_multi_port_listen_and_port_hopping(
    identity: tuple[str, str], tcp_echo: int, backend: str
) -> None:
    ports = [free_port(), free_port()]
    server = await _server(identity, listen=f"127.0.0.1:{ports[0]},{ports[1]}")
    assert sorted(server.ports) == sorted(ports)
    client = await _client(f"{ports[0]},{ports[1]}", backend=backend, hop_interval=0.2)
    try:
        for _ in range(100):
            if client.hops >= 3:
                break
            await asyncio.sleep(0.1)
        assert client.hops >= 3
        payload = os.urandom(200_000)
        assert await _echo(client, tcp_echo, payload) == payload
        assert len(server.sessions) == 1
    finally:
        await client.close()
        await server.stop()


async def test_listen_on_a_port_range(identity: tuple[str, str], tcp_echo: int) -> None:
    import random

    server = None
    for _ in range(10):  # find 64 consecutive free ports; bounded attempts
        base = random.randint(40000, 60000)
        try:
            server = await _server(identity, listen=f"127.0.0.1:{base}-{base + 63}")
            break
        except OSError:
            continue
    assert server is not None, "no free range of 64 ports found"
    assert len(server.ports) == 64
    client = await _client(f"{base + 17}")
    try:
        payload = os.urandom(10_000)
        assert await _echo(client, tcp_echo, payload) == payload
    finally:
        await client.close()
        await server.stop()


async def test_bandwidth_negotiation(identity: tuple[str, str], tcp_echo: int) -> None:
    server = await _server(identity, max_tx=2_000_000, max_rx=3_000_000)
    client = await _client(server.ports[0], max_tx=5_000_000, max_rx=1_000_000)
    try:
        (state,) = server.sessions
        assert state.conn.brutal is not None and state.conn.brutal.bps == 1_000_000  # client rx wins
        assert client.server_rx == 3_000_000
        assert client.conn is not None and client.conn.brutal is not None
        assert client.conn.brutal.bps == 3_000_000
        # Data flows both ways under Brutal.
        payload = os.urandom(1 << 20)
        assert await _echo(client, tcp_echo, payload) == payload
    finally:
        await client.close()
        await server.stop()
    server = await _server(identity, max_tx=2_000_000, ignore_client_bandwidth=True)
    client = await _client(server.ports[0], max_tx=5_000_000, max_rx=1_000_000)
    try:
        (state,) = server.sessions
        assert state.conn.brutal is None and client.server_rx_auto
        assert client.conn is not None and client.conn.brutal is None
    finally:
        await client.close()
        await server.stop()


async def test_qh3_bandwidth_keeps_native_cc(identity: tuple[str, str], tcp_echo: int) -> None:
    server = await _server(identity, max_tx=2_000_000, max_rx=3_000_000)
    client = await _client(server.ports[0], backend="qh3", max_tx=5_000_000, max_rx=1_000_000)
    try:
        (state,) = server.sessions
        assert state.conn.brutal is not None and state.conn.brutal.bps == 1_000_000
        assert client.server_rx == 3_000_000
        # qh3's congestion control is native: Brutal is not available there.
        assert client.conn is not None and client.conn.brutal is None
        assert client.stats()["brutal_bps"] == 0
        payload = os.urandom(1 << 20)
        assert await _echo(client, tcp_echo, payload) == payload
    finally:
        await client.close()
        await server.stop()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_ca_verification(identity: tuple[str, str], backend: str) -> None:
    server = await _server(identity)
    try:
        client = await _client(server.ports[0], backend=backend, insecure=False, ca=identity[0])
        await client.close()
        with pytest.raises(ConnectError):
            await _client(server.ports[0], backend=backend, insecure=False, connect_timeout=3)
    finally:
        await server.stop()


async def test_masquerade_proxy(identity: tuple[str, str]) -> None:
    import http.server
    import threading

    class Site(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = f"upstream saw {self.path} host={self.headers['Host']}".encode()
            self.send_response(200)
            self.send_header("content-type", "text/plain")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return None

    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Site)
    thread = threading.Thread(target=site.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{site.server_address[1]}"
    server = await _server(identity, masquerade=MasqueradeConfig(type="proxy", url=url))
    client = await _client(server.ports[0])
    try:
        headers, body = await _h3_request(client, "GET", "/page?q=1")
        assert headers[":status"] == "200"
        assert body == b"upstream saw /page?q=1 host=site"
    finally:
        await client.close()
        await server.stop()
        site.shutdown()
        site.server_close()
        thread.join(5)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_pin_sha256(identity: tuple[str, str], backend: str) -> None:
    from cryptography import x509

    server = await _server(identity)
    pin = cert_sha256(x509.load_pem_x509_certificate(identity[0].encode()))
    try:
        client = await _client(server.ports[0], backend=backend, insecure=False, pin_sha256=pin.upper())
        await client.close()
        with pytest.raises(Exception, match="pinSHA256"):
            await _client(server.ports[0], backend=backend, insecure=False, pin_sha256="00" * 32)
    finally:
        await server.stop()


async def test_vanished_client_times_out_on_the_server(identity: tuple[str, str]) -> None:
    gone: list[str] = []

    class Handler(DirectHandler):
        def on_disconnect(self, auth_id: str, remote: tuple[str, int]) -> None:
            gone.append(auth_id)

    server = await _server(identity, Handler([PASSWORD]), idle_timeout=1.0)
    client = await _client(server.ports[0], keepalive=60.0)
    try:
        assert len(server.sessions) == 1
        client._close_endpoints()  # the client disappears without CONNECTION_CLOSE
        for _ in range(100):
            if gone:
                break
            await asyncio.sleep(0.1)
        assert gone == ["0"] and not server.sessions
    finally:
        await client.close()
        await server.stop()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_disconnect_is_seen_on_both_sides(identity: tuple[str, str], backend: str) -> None:
    seen: list[str] = []

    class Handler(DirectHandler):
        def on_disconnect(self, auth_id: str, remote: tuple[str, int]) -> None:
            seen.append(auth_id)

    server = await _server(identity, Handler([PASSWORD]))
    client = await _client(server.ports[0], backend=backend)
    await client.close()
    for _ in range(50):
        if seen:
            break
        await asyncio.sleep(0.1)
    assert seen == ["0"]
    client = await _client(server.ports[0], backend=backend)
    await server.stop()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(client.closed.wait(), 10)
    assert client.closed.is_set()
    with pytest.raises(ClosedError):
        await client.tcp("127.0.0.1:1")
    await client.close()
