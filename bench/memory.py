"""Memory: idle node RSS, and RSS per idle relayed TCP connection (1,000 held open), versus sing-box.

Figures (DESIGN §6; RSS is VmRSS from /proc, MB = 10^6 bytes, KB = 10^3 bytes):

* idle RSS of a fresh `hy2scale run` (API + hy2 server, idle for IDLE_S seconds) versus sing-box
  with a hysteria2 inbound and a socks inbound;
* per connection: CONNS SOCKS5 connections, each authenticated, CONNECTed to a local echo server
  and used for one small round trip, then held open and idle. RSS of the proxy process(es) before
  and after, divided by CONNS:
  - direct: our node's SOCKS5 proxy (direct exit) vs sing-box socks inbound -> direct;
  - chain: our node A's SOCKS5 proxy with exit_via B (A -> hy2 relay -> B -> echo), both nodes
    counted, vs sing-box S1 (socks -> hysteria2 outbound) -> sing-box S2 (hysteria2 -> direct).

Our nodes are configured only through their REST API, as an operator would. Every role is its own
process; the client side (this process) holds all the sockets. Prints one JSON line.

MEMORY_BENCH_TRACE=FILE runs our nodes under tracemalloc (bench harness only) and writes the top
allocation sites to FILE.<node>.idle (before the connections) and what grew while they are open to
FILE.<node>.growth, for finding where memory goes (tracemalloc inflates RSS: ignore the figures then).

Roles (internal): ``--role echo PORT``, ``--role traced-node ARGS...``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import resource
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    PYTHON,
    REPO,
    emit,
    free_port,
    peak_rss_mb,
    process,
    rss_kb,
    self_signed_files,
    sing_box,
    wait_tcp,
)

CONNS = int(os.environ.get("MEMORY_BENCH_CONNS", "1000"))
IDLE_S = float(os.environ.get("MEMORY_BENCH_IDLE_S", "5"))
SETTLE_S = 3.0  # after opening/closing connections, before reading RSS
PARALLEL = 50  # connections being opened at once
CONNECT_TIMEOUT_S = 15.0
OPEN_ALL_TIMEOUT_S = 120.0
WARMUP = 50
USER, USER_PASSWORD = "bench", "bench-user-password"
ADMIN_PASSWORD = "memory-bench-admin"
HY2_PASSWORD = "memory-bench-hy2-password"
TRACE = os.environ.get("MEMORY_BENCH_TRACE", "")
PAYLOAD = b"memory-bench-ping"


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# --- roles ------------------------------------------------------------------------------------


def run_echo(port: int) -> None:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(4096):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(echo, "127.0.0.1", port, backlog=1024)
        async with server:
            await server.serve_forever()

    import uvloop

    uvloop.run(main())


def run_traced_node(argv: list[str], out: str) -> None:
    """`hy2scale` under tracemalloc. The first SIGUSR1 writes the heap's top allocation sites to
    ``out.idle``; the second writes what grew since the first to ``out.growth``."""
    import tracemalloc

    tracemalloc.start(8)
    baseline: list[tracemalloc.Snapshot] = []

    def snapshot() -> tracemalloc.Snapshot:
        return tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])

    def write(name: str, lines: list[str]) -> None:
        # Written whole, then renamed: the bench waits for the name to appear.
        Path(f"{name}.tmp").write_text("\n".join(lines) + "\n")
        os.replace(f"{name}.tmp", name)

    def dump(_sig: int, _frame: object) -> None:
        snap = snapshot()
        lines = [f"traced_current_bytes={tracemalloc.get_traced_memory()[0]}"]
        if not baseline:
            baseline.append(snap)
            lines += [
                f"{s.size} B in {s.count} blocks: {s.traceback[0]}" for s in snap.statistics("lineno")[:30]
            ]
            write(f"{out}.idle", lines)
            return
        diffs = snap.compare_to(baseline[0], "lineno")
        lines.append(f"growth_total_bytes={sum(d.size_diff for d in diffs)}")
        for diff in diffs[:30]:
            lines.append(f"{diff.size_diff:+} B in {diff.count_diff:+} blocks: {diff.traceback[0]}")
        lines.append("--- by traceback (top 10) ---")
        for diff in snap.compare_to(baseline[0], "traceback")[:10]:
            lines.append(f"{diff.size_diff:+} B in {diff.count_diff:+} blocks:")
            lines.extend(f"    {frame}" for frame in diff.traceback.format()[-8:])
        write(f"{out}.growth", lines)

    signal.signal(signal.SIGUSR1, dump)
    from hy2scale.cli import main

    sys.exit(main(argv))


# --- our node through its REST API ------------------------------------------------------------


class Node:
    """A fresh `hy2scale run` on loopback ports, driven through its REST API."""

    def __init__(self, stack: ExitStack, tmp: Path, name: str) -> None:
        self.name = name
        self.api, self.hy2 = free_port(), free_port()
        data = tmp / name
        args = [
            "run",
            "--data",
            str(data),
            "--api",
            f"127.0.0.1:{self.api}",
            "--hy2-listen",
            f"127.0.0.1:{self.hy2}",
        ]
        if TRACE:
            cmd = [PYTHON, __file__, "--role", "traced-node", f"{TRACE}.{name}", *args]
        else:
            cmd = [str(REPO / ".venv" / "bin" / "hy2scale"), *args]
        self.log = tmp / f"{name}.log"
        with self.log.open("ab") as log:
            self.proc = stack.enter_context(process(cmd, stdout=log, stderr=subprocess.STDOUT))
        self.token = ""

    @property
    def pid(self) -> int:
        return self.proc.pid

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.api}/scale/api{path}",
            data=json.dumps(body).encode() if body is not None else None,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=60 if TRACE else 10) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"{self.name}: {method} {path} -> {exc.code} {exc.read()[:300]!r}") from None

    def wait_up(self) -> None:
        """Until the API answers HTTP (its socket is bound before the node has fully started)."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log.read_text()[-1500:]}")
            try:
                self.call("GET", "/build-id")
                return
            except (OSError, RuntimeError):
                time.sleep(0.2)
        raise TimeoutError(f"{self.name}: API did not come up")

    def admin(self) -> None:
        """First login with the default password, the forced password change, then the node name
        (peers know each other by it: a link is renamed to the name the remote node reports)."""
        self.token = self.call("POST", "/login", {"username": "admin", "password": sha256_hex("admin")})[
            "token"
        ]
        self.call(
            "PUT",
            "/settings/password",
            {"current_password": sha256_hex("admin"), "new_password": sha256_hex(ADMIN_PASSWORD)},
        )
        self.token = self.call(
            "POST", "/login", {"username": "admin", "password": sha256_hex(ADMIN_PASSWORD)}
        )["token"]
        self.call("PUT", "/node", {"name": self.name})

    def socks5(self, exit_via: str = "") -> int:
        """A user and an authenticated SOCKS5 proxy (optionally leaving through ``exit_via``)."""
        self.call("POST", "/users", {"username": USER, "password": USER_PASSWORD})
        port = free_port()
        proxy = {
            "id": "socks5",
            "protocol": "socks5",
            "listen": f"127.0.0.1:{port}",
            "enabled": True,
            "exit_via": exit_via,
        }
        self.call("POST", "/proxies", proxy)
        wait_tcp(port)
        return port

    def link(self, peer: Node) -> None:
        """Dial ``peer`` as an outbound client and wait until the link is up."""
        password = peer.call("GET", "/node")["server"]["password"]
        self.call(
            "POST",
            "/clients",
            {"name": peer.name, "addr": f"127.0.0.1:{peer.hy2}", "password": password, "insecure": True},
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if any(c["name"] == peer.name and c.get("connected") for c in self.call("GET", "/clients")):
                return
            time.sleep(0.2)
        raise TimeoutError(f"{self.name}: link to {peer.name} did not come up")

    def dump_trace(self, stage: str) -> None:
        """Ask the traced node for its ``stage`` file and wait (bounded) until it is written."""
        if not TRACE:
            return
        out = Path(f"{TRACE}.{self.name}.{stage}")
        out.unlink(missing_ok=True)
        self.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 180
        while not out.exists() and time.monotonic() < deadline:
            time.sleep(0.5)


# --- the client side --------------------------------------------------------------------------


async def _socks_open(port: int, target: int) -> asyncio.StreamWriter:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        await _socks_handshake(reader, writer, target)
    except BaseException:
        writer.close()
        raise
    return writer


async def _socks_handshake(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, target: int) -> None:
    """RFC 1928/1929 CONNECT with username/password, then one echo round trip."""
    writer.write(b"\x05\x01\x02")
    if await reader.readexactly(2) != b"\x05\x02":
        raise ConnectionError("proxy refused username/password auth")
    user, password = USER.encode(), USER_PASSWORD.encode()
    writer.write(bytes([1, len(user)]) + user + bytes([len(password)]) + password)
    if await reader.readexactly(2) != b"\x01\x00":
        raise ConnectionError("proxy refused the credentials")
    writer.write(b"\x05\x01\x00\x01" + socket.inet_aton("127.0.0.1") + struct.pack("!H", target))
    reply = await reader.readexactly(10)
    if reply[1] != 0:
        raise ConnectionError(f"CONNECT failed: reply {reply[1]}")
    writer.write(PAYLOAD)
    if await reader.readexactly(len(PAYLOAD)) != PAYLOAD:
        raise ConnectionError("echo mismatch")


async def _open_many(port: int, target: int, count: int) -> list[asyncio.StreamWriter]:
    gate = asyncio.Semaphore(PARALLEL)

    async def one() -> asyncio.StreamWriter:
        async with gate:
            return await asyncio.wait_for(_socks_open(port, target), CONNECT_TIMEOUT_S)

    tasks = [asyncio.ensure_future(one()) for _ in range(count)]
    try:
        async with asyncio.timeout(OPEN_ALL_TIMEOUT_S):
            return list(await asyncio.gather(*tasks))
    except BaseException:
        for t in tasks:
            t.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for r in results:
            if isinstance(r, asyncio.StreamWriter):
                r.close()
        raise


async def _close_all(writers: list[asyncio.StreamWriter]) -> None:
    for w in writers:
        w.close()
    await asyncio.gather(*(w.wait_closed() for w in writers), return_exceptions=True)


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def _measure(port: int, target: int, pids: list[int], trace: Callable[[str], None]) -> dict[str, Any]:
    """Warm up, read RSS, hold CONNS idle connections, read RSS again; the figures per connection
    (in total and per process, in the order given)."""
    await _close_all(await _open_many(port, target, WARMUP))
    await asyncio.sleep(SETTLE_S)
    before = [rss_kb(pid) for pid in pids]
    fds_before = sum(_fds(pid) for pid in pids)
    trace("idle")
    writers = await _open_many(port, target, CONNS)
    try:
        await asyncio.sleep(SETTLE_S)
        after = [rss_kb(pid) for pid in pids]
        fds_after = sum(_fds(pid) for pid in pids)
        trace("growth")
    finally:
        await _close_all(writers)
    figures: dict[str, Any] = {
        "rss_before_mb": round(sum(before) / 1000, 1),
        "rss_after_mb": round(sum(after) / 1000, 1),
        "kb_per_conn": round((sum(after) - sum(before)) / CONNS, 2),
        # Kernel memory (socket buffers, splice pipes) is not in RSS; descriptors hint at it.
        "fds_per_conn": round((fds_after - fds_before) / CONNS, 2),
    }
    if len(pids) > 1:
        figures["kb_per_conn_each"] = [round((a - b) / CONNS, 2) for a, b in zip(after, before, strict=True)]
    return figures


def measure(port: int, target: int, procs: list[Node] | list[subprocess.Popen[bytes]]) -> dict[str, Any]:
    def trace(stage: str) -> None:
        for proc in procs:
            if isinstance(proc, Node):
                proc.dump_trace(stage)

    return asyncio.run(_measure(port, target, [p.pid for p in procs], trace))


# --- sing-box configurations ------------------------------------------------------------------


def _sb_socks_inbound(port: int) -> dict[str, Any]:
    return {
        "type": "socks",
        "listen": "127.0.0.1",
        "listen_port": port,
        "users": [{"username": USER, "password": USER_PASSWORD}],
    }


def _sb_hy2_inbound(port: int, cert: str, key: str) -> dict[str, Any]:
    return {
        "type": "hysteria2",
        "listen": "127.0.0.1",
        "listen_port": port,
        "users": [{"password": HY2_PASSWORD}],
        "tls": {"enabled": True, "certificate_path": cert, "key_path": key, "alpn": ["h3"]},
    }


def _sb_hy2_outbound(port: int) -> dict[str, Any]:
    return {
        "type": "hysteria2",
        "server": "127.0.0.1",
        "server_port": port,
        "password": HY2_PASSWORD,
        "tls": {"enabled": True, "server_name": "bench.test", "insecure": True, "alpn": ["h3"]},
    }


def _sb(inbounds: list[dict[str, Any]], outbound: dict[str, Any]) -> dict[str, Any]:
    return {"log": {"level": "error"}, "inbounds": inbounds, "outbounds": [outbound]}


# --- the run ----------------------------------------------------------------------------------


def _raise_fd_limit() -> None:
    """Room for the client ends of every connection; children (nodes, sing-box) inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, 8 * CONNS + 1024))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


@contextmanager
def _echo() -> Iterator[int]:
    port = free_port()
    with process([PYTHON, __file__, "--role", "echo", str(port)], stderr=subprocess.DEVNULL):
        wait_tcp(port)
        yield port


def _ratio(ours: float, reference: float) -> float | None:
    return round(ours / reference, 3) if reference > 0 else None


def main() -> None:
    _raise_fd_limit()
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp_dir, _echo() as echo:
        tmp = Path(tmp_dir)
        cert, key = self_signed_files(tmp)

        # Idle RSS, then the direct SOCKS5 figure on the same node (configured after the idle reading).
        with ExitStack() as stack:
            node = Node(stack, tmp, "solo")
            node.wait_up()
            time.sleep(IDLE_S)
            idle_ours = rss_kb(node.pid) / 1000
            idle_peak_ours = peak_rss_mb(node.pid)
            node.admin()
            port = node.socks5()
            direct_ours = measure(port, echo, [node])
            direct_ours["peak_rss_mb"] = round(peak_rss_mb(node.pid), 1)
        with sing_box(
            _sb(
                [_sb_hy2_inbound(free_port(), cert, key), _sb_socks_inbound(socks := free_port())],
                {"type": "direct"},
            )
        ) as sb:
            wait_tcp(socks)
            time.sleep(IDLE_S)
            idle_ref = rss_kb(sb.pid) / 1000
        with sing_box(_sb([_sb_socks_inbound(socks := free_port())], {"type": "direct"})) as sb:
            wait_tcp(socks)
            direct_ref = measure(socks, echo, [sb])

        # Two-hop chain: A's SOCKS5 proxy leaves through B.
        with ExitStack() as stack:
            a, b = Node(stack, tmp, "a"), Node(stack, tmp, "b")
            for n in (a, b):
                n.wait_up()
                n.admin()
            a.link(b)
            port = a.socks5(exit_via="b")
            chain_ours = measure(port, echo, [a, b])
            chain_ours["peak_rss_mb_a"] = round(peak_rss_mb(a.pid), 1)
            chain_ours["peak_rss_mb_b"] = round(peak_rss_mb(b.pid), 1)
        s2, socks = free_port(), free_port()
        with sing_box(_sb([_sb_hy2_inbound(s2, cert, key)], {"type": "direct"})) as sb2:
            with sing_box(_sb([_sb_socks_inbound(socks)], _sb_hy2_outbound(s2))) as sb1:
                wait_tcp(socks)
                time.sleep(0.5)  # the UDP listener has no readiness probe
                chain_ref = measure(socks, echo, [sb1, sb2])

    result = {
        "conns": CONNS,
        "idle_rss_mb": {
            "ours": round(idle_ours, 1),
            "sing_box": round(idle_ref, 1),
            "ratio": _ratio(idle_ours, idle_ref),
            "ours_peak_before_first_login_mb": round(idle_peak_ours, 1),
            "target": 150,
            "moonshot": 80,
        },
        "socks5_direct": {
            "ours": direct_ours,
            "sing_box": direct_ref,
            "ratio": _ratio(direct_ours["kb_per_conn"], direct_ref["kb_per_conn"]),
        },
        "socks5_chain_a_to_b": {
            "ours": chain_ours,
            "sing_box": chain_ref,
            "ratio": _ratio(chain_ours["kb_per_conn"], chain_ref["kb_per_conn"]),
        },
        "kb_per_conn_target": 64,
        "kb_per_conn_moonshot": 16,
    }
    emit(
        "memory_idle_relayed_tcp_connection",
        "KB/conn",
        chain_ours["kb_per_conn"],
        chain_ref["kb_per_conn"],
        reference_setup="sing-box socks -> hysteria2 -> sing-box hysteria2 -> direct",
        our_setup="our node A socks5 (exit_via b) -> relay -> our node B -> direct",
        **result,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--role", choices=["bench", "echo", "traced-node"], default="bench")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    ns = parser.parse_args()
    if ns.role == "echo":
        run_echo(int(ns.args[0]))
    elif ns.role == "traced-node":
        run_traced_node(ns.args[1:], ns.args[0])
    else:
        main()
