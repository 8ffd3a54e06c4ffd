"""SOCKS5 with a direct exit: our service versus sing-box's SOCKS5 inbound, in the same run.

Figures: one TCP stream of 200 MiB downloaded through the proxy (MB/s, MB = 10^6 bytes), and
connects per second for 2,000 sequential authenticated CONNECTs (handshake + reply + close).
Every role is its own process: target server, our node's services, sing-box, the client.
Prints one JSON line per figure plus the peak RSS of our service process.

Roles (internal): ``--role target PORT`` (sends SIZE bytes to every connection),
``--role ours DATA_DIR PORT``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import MB, PYTHON, emit, free_port, peak_rss_mb, process, sing_box, wait_tcp

SIZE = int(os.environ.get("PROXY_BENCH_MIB", "200")) * 1024 * 1024
CONNECTS = int(os.environ.get("PROXY_BENCH_CONNECTS", "2000"))
USER, PASSWORD = "bench", "bench-password"
CHUNK = 256 * 1024


def run_target(port: int, close_port: int) -> None:
    """`port` streams SIZE bytes then closes; `close_port` accepts and closes (for the connect test)."""
    block = os.urandom(CHUNK)

    async def stream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        left = SIZE
        while left > 0:
            writer.write(block[: min(left, CHUNK)])
            left -= CHUNK
            await writer.drain()
        writer.close()

    async def close(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    async def main() -> None:
        await asyncio.start_server(stream, "127.0.0.1", port)
        await asyncio.start_server(close, "127.0.0.1", close_port)
        await asyncio.Event().wait()

    import uvloop

    uvloop.run(main())


def run_ours(data_dir: str, port: int) -> None:
    """Our accounts + service manager on a real store, as node.py builds them, on uvloop."""
    from types import SimpleNamespace

    import uvloop

    from hy2scale.accounts import Accounts
    from hy2scale.bus import ChangeBus
    from hy2scale.certs import CertStore
    from hy2scale.services.exits import DirectExits
    from hy2scale.services.manager import ServiceManager
    from hy2scale.store import Store

    async def main() -> None:
        store = Store.open(Path(data_dir))
        store.users.create({"id": "u1", "username": USER, "password": PASSWORD, "enabled": True})
        store.proxies.create(
            {"id": "socks5", "protocol": "socks5", "listen": f"127.0.0.1:{port}", "enabled": True}
        )
        node = SimpleNamespace(
            store=store, bus=ChangeBus(), exits=DirectExits(), certs=CertStore(Path(data_dir) / "tls")
        )
        node.accounts = Accounts(node)
        node.services = ServiceManager(node)
        await node.accounts.start()
        await node.services.start()
        await asyncio.Event().wait()

    uvloop.run(main())


def socks_connect(proxy_port: int, target_port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", proxy_port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(b"\x05\x01\x02")
    assert sock.recv(2) == b"\x05\x02"
    user, password = USER.encode(), PASSWORD.encode()
    sock.sendall(bytes([1, len(user)]) + user + bytes([len(password)]) + password)
    assert sock.recv(2) == b"\x01\x00"
    sock.sendall(b"\x05\x01\x00\x01" + socket.inet_aton("127.0.0.1") + struct.pack("!H", target_port))
    reply = b""
    while len(reply) < 10:
        data = sock.recv(10 - len(reply))
        if not data:
            raise ConnectionError("proxy closed during CONNECT")
        reply += data
    assert reply[1] == 0, f"CONNECT failed: {reply[1]}"
    return sock


def download(proxy_port: int, target_port: int) -> float:
    sock = socks_connect(proxy_port, target_port)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
    buf = bytearray(CHUNK)
    got = 0
    start = time.perf_counter()
    while True:
        n = sock.recv_into(buf)
        if not n:
            break
        got += n
    elapsed = time.perf_counter() - start
    sock.close()
    if got != SIZE:
        raise RuntimeError(f"got {got} of {SIZE} bytes")
    return SIZE / elapsed / MB


def connects_per_second(proxy_port: int, target_port: int) -> float:
    start = time.perf_counter()
    for _ in range(CONNECTS):
        sock = socks_connect(proxy_port, target_port)
        sock.close()
    return CONNECTS / (time.perf_counter() - start)


def best_of(runs: int, fn, *args) -> float:  # type: ignore[no-untyped-def]
    return max(fn(*args) for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--role", choices=["bench", "target", "ours"], default="bench")
    parser.add_argument("args", nargs="*")
    ns = parser.parse_args()
    if ns.role == "target":
        run_target(int(ns.args[0]), int(ns.args[1]))
        return
    if ns.role == "ours":
        run_ours(ns.args[0], int(ns.args[1]))
        return

    target, closer, ours_port, ref_port = free_port(), free_port(), free_port(), free_port()
    script = str(Path(__file__).resolve())
    singbox_config = {
        "log": {"level": "error"},
        "inbounds": [
            {
                "type": "socks",
                "listen": "127.0.0.1",
                "listen_port": ref_port,
                "users": [{"username": USER, "password": PASSWORD}],
            }
        ],
        "outbounds": [{"type": "direct"}],
    }
    with (
        tempfile.TemporaryDirectory(prefix="bench-proxy-") as data,
        process([PYTHON, script, "--role", "target", str(target), str(closer)], stderr=subprocess.DEVNULL),
        process([PYTHON, script, "--role", "ours", data, str(ours_port)], stderr=subprocess.DEVNULL) as ours,
        sing_box(singbox_config),
    ):
        for port in (target, closer, ours_port, ref_port):
            wait_tcp(port)
        # Interleave the runs so both proxies see the same machine conditions.
        ours_mbps = best_of(2, download, ours_port, target)
        ref_mbps = best_of(2, download, ref_port, target)
        emit(
            "socks5_direct_one_stream",
            "MB/s",
            ours_mbps,
            ref_mbps,
            reference_impl="sing-box socks",
            mib=SIZE // 2**20,
            peak_rss_mb=round(peak_rss_mb(ours.pid), 1),
        )
        ours_cps = connects_per_second(ours_port, closer)
        ref_cps = connects_per_second(ref_port, closer)
        emit(
            "socks5_sequential_connects",
            "connects/s",
            ours_cps,
            ref_cps,
            reference_impl="sing-box socks",
            connects=CONNECTS,
            peak_rss_mb=round(peak_rss_mb(ours.pid), 1),
        )


if __name__ == "__main__":
    main()
