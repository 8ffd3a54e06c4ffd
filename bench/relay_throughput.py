"""One TCP stream of 200 MiB through a relay hop: entry node A -> relay to B -> TCP sink.

Every role is its own process. The traffic source is always a sing-box client (SOCKS in,
Hysteria 2 out) so only the hops differ between the figures:

* ours: sing-box client -> our node A (`hy2scale run`) -> relay link -> our node B -> sink.
  The client asks A for `_relay_via_b_<sink>:0`, exactly what a Go peer sends to route via B.
* direct: sing-box client -> our node B -> sink (one plain hy2 hop, no relay).
* reference, same run: sing-box client -> sing-box server S1 -> hy2 outbound -> sing-box S2 -> sink.

Prints one JSON line (MB/s, MB = 10^6 bytes): ours vs sing-box chaining, plus the direct
figure, the ratio to it, and the peak RSS of both our node processes.

Roles (internal): ``--role sink|socks``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    MB,
    PYTHON,
    REPO,
    emit,
    free_port,
    length_prefixed_sink,
    peak_rss_mb,
    process,
    self_signed_files,
    sing_box,
    wait_tcp,
)

SIZE = int(os.environ.get("RELAY_BENCH_MIB", "200")) * 1024 * 1024
CHUNK = 64 * 1024
PASSWORD = "relay-bench-pw"


async def _socks(socks_port: int, host: str, port: int) -> None:
    """SOCKS5 CONNECT to ``host``:``port`` (a domain, so relay addresses pass through), then push."""
    reader, writer = await asyncio.open_connection("127.0.0.1", socks_port)
    writer.write(b"\x05\x01\x00")
    await reader.readexactly(2)
    raw = host.encode()
    writer.write(b"\x05\x01\x00\x03" + bytes([len(raw)]) + raw + struct.pack("!H", port))
    head = await reader.readexactly(4)
    assert head[1] == 0, f"SOCKS reply {head[1]}"
    if head[3] == 3:
        await reader.readexactly((await reader.readexactly(1))[0] + 2)
    else:
        await reader.readexactly(18 if head[3] == 4 else 6)
    block = os.urandom(CHUNK)
    start = time.perf_counter()
    writer.write(struct.pack("!Q", SIZE))
    sent = 0
    while sent < SIZE:
        writer.write(block)
        sent += CHUNK
        await writer.drain()
    assert await reader.readexactly(4) == b"done"
    elapsed = time.perf_counter() - start
    writer.close()
    print(json.dumps({"seconds": elapsed}), flush=True)


def _push(socks_port: int, host: str, port: int) -> float:
    for _ in range(20):  # the relay link may still be coming up
        out = subprocess.run(
            [
                PYTHON,
                __file__,
                "--role",
                "socks",
                "--port",
                str(socks_port),
                "--host",
                host,
                "--to",
                str(port),
            ],
            capture_output=True,
            text=True,
            timeout=900,
        )
        if out.returncode == 0:
            return float(json.loads(out.stdout.strip().splitlines()[-1])["seconds"])
        time.sleep(0.5)
    raise RuntimeError(f"push through SOCKS {socks_port} failed: {out.stderr[-500:]}")


def _prepare_node(data: Path, name: str, hy2_port: int, client_port: int = 0) -> None:
    from hy2scale.certs import CertStore
    from hy2scale.firstrun import ensure_first_run
    from hy2scale.store import Store

    data.mkdir()
    store = Store.open(data)
    try:
        ensure_first_run(store, CertStore(data / "tls"))
        store.sections.put("node", {**store.sections.get("node"), "name": name})
        server = store.sections.get("server")
        store.sections.put("server", {**server, "password": PASSWORD, "listen": f"127.0.0.1:{hy2_port}"})
        if client_port:
            store.clients.create(
                {"name": "b", "addr": f"127.0.0.1:{client_port}", "password": PASSWORD, "insecure": True}
            )
    finally:
        store.close()


def _node(data: Path, hy2_port: int) -> list[str]:
    return [
        str(REPO / ".venv" / "bin" / "hy2scale"),
        "run",
        "--data",
        str(data),
        "--api",
        f"127.0.0.1:{free_port()}",
        "--hy2-listen",
        f"127.0.0.1:{hy2_port}",
    ]


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
                "tls": {"enabled": True, "server_name": "hy2scale", "insecure": True, "alpn": ["h3"]},
            }
        ],
    }


def _sb_server(port: int, cert: str, key: str, onward: int = 0) -> dict[str, object]:
    outbound: dict[str, object] = {"type": "direct"}
    if onward:
        outbound = _sb_client(0, onward)["outbounds"][0]  # type: ignore[index]
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
        "outbounds": [outbound],
    }


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="relay-bench-") as tmp_dir:
        tmp = Path(tmp_dir)
        cert, key = self_signed_files(tmp, "hy2scale")
        sink = free_port()
        mb = SIZE / MB
        with process([PYTHON, __file__, "--role", "sink", "--port", str(sink)]):
            wait_tcp(sink)
            a_port, b_port = free_port(), free_port()
            _prepare_node(tmp / "b", "b", b_port)
            _prepare_node(tmp / "a", "a", a_port, client_port=b_port)
            log = os.environ.get("RELAY_BENCH_LOG")
            quiet = {"stdout": open(log, "ab") if log else subprocess.DEVNULL, "stderr": subprocess.STDOUT}
            with (
                process(_node(tmp / "b", b_port), **quiet) as node_b,
                process(_node(tmp / "a", a_port), **quiet) as node_a,
            ):
                socks_a, socks_b = free_port(), free_port()
                with sing_box(_sb_client(socks_a, a_port)), sing_box(_sb_client(socks_b, b_port)):
                    wait_tcp(socks_a)
                    wait_tcp(socks_b)
                    ours = _push(socks_a, f"_relay_via_b_127.0.0.1:{sink}", 0)
                    direct = _push(socks_b, "127.0.0.1", sink)
                rss_a, rss_b = peak_rss_mb(node_a.pid), peak_rss_mb(node_b.pid)

            s1, s2, socks_ref = free_port(), free_port(), free_port()
            with sing_box(_sb_server(s2, cert, key)), sing_box(_sb_server(s1, cert, key, onward=s2)):
                with sing_box(_sb_client(socks_ref, s1)):
                    wait_tcp(socks_ref)
                    time.sleep(0.5)  # the UDP listeners have no readiness probe
                    reference = _push(socks_ref, "127.0.0.1", sink)

    emit(
        "relay_tcp_one_stream_one_relay_hop",
        "MB/s",
        mb / ours,
        mb / reference,
        reference_setup="sing-box client -> sing-box S1 -> hy2 -> sing-box S2 -> sink",
        our_setup="sing-box client -> our node A -> relay via -> our node B -> sink",
        bytes=SIZE,
        direct_hy2_mb_s=round(mb / direct, 3),
        ratio_vs_direct_hy2=round(direct / ours, 4),
        peak_rss_mb_node_a=round(rss_a, 1),
        peak_rss_mb_node_b=round(rss_b, 1),
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--role")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="")
    parser.add_argument("--to", type=int, default=0)
    ns = parser.parse_args()
    if ns.role == "sink":
        asyncio.run(length_prefixed_sink(ns.port))
    elif ns.role == "socks":
        asyncio.run(_socks(ns.port, ns.host, ns.to))
    else:
        main()
