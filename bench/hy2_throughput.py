"""One TCP stream, 200 MiB, pushed through Hysteria 2 on 127.0.0.1.

Reference, same run: sing-box client (SOCKS in) -> sing-box server -> TCP sink. Measured side by
side against it: our client on aioquic and on qh3 -> our server and -> sing-box server, and
sing-box client -> our server (the node's real-world case). Every role is its own process, like
client and server on two hosts. Prints one JSON line per figure (MB/s, MB = 10^6 bytes, ratio to
the reference) with the peak RSS of our processes.

Roles (internal): ``--role sink|server|client|socks``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import struct
import subprocess
import tempfile
import time
from pathlib import Path

from _common import (
    MB,
    PYTHON,
    emit,
    free_port,
    length_prefixed_sink,
    peak_rss_mb,
    process,
    sing_box,
    wait_tcp,
)

SIZE = int(os.environ.get("HY2_BENCH_MIB", "200")) * 1024 * 1024
CHUNK = 64 * 1024
PASSWORD = "bench-password"


def _loop() -> None:
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass


async def _server(port: int, cert: str, key: str) -> None:
    from hy2scale.hysteria import Hy2Server, ServerConfig
    from hy2scale.hysteria.direct import DirectHandler

    server = Hy2Server(
        ServerConfig(listen=f"127.0.0.1:{port}", cert=cert, key=key), DirectHandler([PASSWORD])
    )
    await server.start()
    print("ready", flush=True)
    await asyncio.Event().wait()


async def _push(stream: object, sink_port: int) -> float:
    block = os.urandom(CHUNK)
    start = time.perf_counter()
    stream.write(struct.pack("!Q", SIZE))  # type: ignore[attr-defined]
    sent = 0
    while sent < SIZE:
        stream.write(block)  # type: ignore[attr-defined]
        sent += CHUNK
        await stream.drain()  # type: ignore[attr-defined]
    assert await stream.readexactly(4) == b"done"  # type: ignore[attr-defined]
    return time.perf_counter() - start


async def _client(port: int, sink_port: int, backend: str) -> None:
    from hy2scale.hysteria import ClientConfig, Hy2Client

    config = ClientConfig(server="127.0.0.1", ports=port, password=PASSWORD, insecure=True, backend=backend)
    client = Hy2Client(config)
    await client.connect()
    stream = await client.tcp(f"127.0.0.1:{sink_port}")
    elapsed = await _push(stream, sink_port)
    stream.close()
    await client.close()
    print(json.dumps({"seconds": elapsed, "rss_mb": peak_rss_mb()}), flush=True)


async def _socks(socks_port: int, sink_port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", socks_port)
    writer.write(b"\x05\x01\x00")
    await reader.readexactly(2)
    writer.write(b"\x05\x01\x00\x01\x7f\x00\x00\x01" + struct.pack("!H", sink_port))
    reply = await reader.readexactly(10)
    assert reply[1] == 0, f"SOCKS reply {reply[1]}"

    class Stream:
        write = writer.write
        drain = writer.drain
        readexactly = reader.readexactly

    elapsed = await _push(Stream(), sink_port)
    writer.close()
    print(json.dumps({"seconds": elapsed, "rss_mb": peak_rss_mb()}), flush=True)


def _role(args: argparse.Namespace) -> None:
    _loop()
    if args.role == "sink":
        asyncio.run(length_prefixed_sink(args.port))
    elif args.role == "server":
        asyncio.run(_server(args.port, args.cert, args.key))
    elif args.role == "client":
        asyncio.run(_client(args.port, args.sink, args.backend))
    elif args.role == "socks":
        asyncio.run(_socks(args.port, args.sink))


def _run_pusher(role: str, port: int, sink_port: int, backend: str = "aioquic") -> dict[str, float]:
    args = ["--role", role, "--port", str(port), "--sink", str(sink_port), "--backend", backend]
    out = subprocess.run(
        [PYTHON, __file__, *args],
        capture_output=True,
        text=True,
        timeout=900,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _sb_server(port: int, cert: str, key: str) -> dict[str, object]:
    return {
        "log": {"level": "error"},
        "inbounds": [
            {
                "type": "hysteria2",
                "listen": "127.0.0.1",
                "listen_port": port,
                "users": [{"password": PASSWORD}],
                "tls": {"enabled": True, "certificate_path": cert, "key_path": key, "alpn": ["h3"]},
            }
        ],
        "outbounds": [{"type": "direct"}],
    }


def _sb_client(socks_port: int, port: int) -> dict[str, object]:
    return {
        "log": {"level": "error"},
        "inbounds": [{"type": "mixed", "listen": "127.0.0.1", "listen_port": socks_port}],
        "outbounds": [
            {
                "type": "hysteria2",
                "server": "127.0.0.1",
                "server_port": port,
                "password": PASSWORD,
                "tls": {"enabled": True, "server_name": "bench.test", "insecure": True, "alpn": ["h3"]},
            }
        ],
    }


def _wait_ready(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != "ready":
        raise RuntimeError(f"server did not start: {line!r}")


def _figure(name: str, result: dict[str, float], ref_rate: float, **extra: object) -> None:
    emit(
        f"hy2_tcp_one_stream_{name}",
        "MB/s",
        SIZE / MB / result["seconds"],
        ref_rate,
        reference_setup="sing-box client -> sing-box server",
        bytes=SIZE,
        **extra,
    )


def main() -> None:
    from _common import self_signed_files

    with tempfile.TemporaryDirectory(prefix="hy2-bench-") as tmp:
        cert, key = self_signed_files(Path(tmp))
        sink_port = free_port()
        with process([PYTHON, __file__, "--role", "sink", "--port", str(sink_port)]):
            wait_tcp(sink_port)

            our_port = free_port()
            server_args = [PYTHON, __file__, "--role", "server", "--port", str(our_port), "--cert", cert]
            with process([*server_args, "--key", key], stdout=subprocess.PIPE, text=True) as server:
                _wait_ready(server)
                aioquic_to_ours = _run_pusher("client", our_port, sink_port, "aioquic")
                qh3_to_ours = _run_pusher("client", our_port, sink_port, "qh3")
                socks_port = free_port()
                with sing_box(_sb_client(socks_port, our_port)):
                    wait_tcp(socks_port)
                    sb_to_ours = _run_pusher("socks", socks_port, sink_port)
                server_rss = peak_rss_mb(server.pid)

            sb_port, socks_port = free_port(), free_port()
            with sing_box(_sb_server(sb_port, cert, key)), sing_box(_sb_client(socks_port, sb_port)):
                wait_tcp(socks_port)
                time.sleep(0.5)  # the UDP listener has no readiness probe
                reference = _run_pusher("socks", socks_port, sink_port)
                aioquic_to_sb = _run_pusher("client", sb_port, sink_port, "aioquic")
                qh3_to_sb = _run_pusher("client", sb_port, sink_port, "qh3")

    ref_rate = SIZE / MB / reference["seconds"]
    server_mb = round(server_rss, 1)
    _figure(
        "aioquic_client_to_our_server",
        aioquic_to_ours,
        ref_rate,
        peak_rss_mb_our_client=round(aioquic_to_ours["rss_mb"], 1),
        peak_rss_mb_our_server=server_mb,
    )
    _figure(
        "qh3_client_to_our_server",
        qh3_to_ours,
        ref_rate,
        peak_rss_mb_our_client=round(qh3_to_ours["rss_mb"], 1),
        peak_rss_mb_our_server=server_mb,
    )
    _figure("sing_box_client_to_our_server", sb_to_ours, ref_rate, peak_rss_mb_our_server=server_mb)
    _figure(
        "aioquic_client_to_sing_box_server",
        aioquic_to_sb,
        ref_rate,
        peak_rss_mb_our_client=round(aioquic_to_sb["rss_mb"], 1),
    )
    _figure(
        "qh3_client_to_sing_box_server",
        qh3_to_sb,
        ref_rate,
        peak_rss_mb_our_client=round(qh3_to_sb["rss_mb"], 1),
    )
    _figure("sing_box_client_to_sing_box_server", reference, ref_rate)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--role")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--sink", type=int, default=0)
    parser.add_argument("--cert", default="")
    parser.add_argument("--key", default="")
    parser.add_argument("--backend", default="aioquic")
    ns = parser.parse_args()
    if ns.role:
        _role(ns)
    else:
        main()
