"""Read-only probes of the host: free ports, VPN capabilities, container detection.

Nothing here changes the host: ports are bound and released at once, capabilities are read from
/proc, /dev and PATH instead of trying to create interfaces.
"""

from __future__ import annotations

import os
import platform
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

CAP_NET_ADMIN = 12
# Where Debian/Ubuntu/Alpine put the charon daemon; it is not on PATH.
CHARON_PATHS = ("/usr/lib/ipsec/charon", "/usr/libexec/ipsec/charon", "/usr/sbin/charon-systemd")


def port_free(port: int, proto: str) -> bool:
    """True when ``port`` can be bound on all IPv4 interfaces for ``proto`` ("tcp" or "udp")."""
    if proto not in ("tcp", "udp"):
        return False
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as sock:
        if proto == "tcp":
            # Like a real server would: TIME_WAIT leftovers do not make the port busy.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
            if proto == "tcp":
                sock.listen(1)
        except OSError:
            return False
    return True


def has_net_admin() -> bool:
    """CAP_NET_ADMIN in the effective set (root in a default container has it)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> CAP_NET_ADMIN & 1)
    except (OSError, ValueError, IndexError):
        pass
    return os.geteuid() == 0


def charon_path() -> str | None:
    for path in CHARON_PATHS:
        if os.access(path, os.X_OK):
            return path
    return shutil.which("charon")


@dataclass(frozen=True)
class Capability:
    capable: bool
    reason: str


def _first_missing(checks: list[tuple[bool, str]]) -> Capability:
    for ok, reason in checks:
        if not ok:
            return Capability(False, reason)
    return Capability(True, "")


def l2tp_capability() -> Capability:
    """L2TP/IPsec needs NET_ADMIN, xl2tpd + pppd, charon, /dev/ppp and the kernel's PPPoL2TP."""
    return _first_missing(
        [
            (has_net_admin(), "missing CAP_NET_ADMIN (run as root or add NET_ADMIN)"),
            (shutil.which("xl2tpd") is not None, "xl2tpd not installed"),
            (shutil.which("pppd") is not None, "pppd not installed"),
            (charon_path() is not None, "strongSwan charon not installed"),
            (Path("/dev/ppp").exists(), "/dev/ppp missing (kernel PPP support)"),
            (Path("/proc/net/pppol2tp").exists(), "kernel module l2tp_ppp not loaded"),
        ]
    )


def ikev2_capability() -> Capability:
    """IKEv2 needs NET_ADMIN, charon, swanctl (VICI client) and kernel xfrm."""
    return _first_missing(
        [
            (has_net_admin(), "missing CAP_NET_ADMIN (run as root or add NET_ADMIN)"),
            (charon_path() is not None, "strongSwan charon not installed"),
            (shutil.which("swanctl") is not None, "swanctl not installed"),
            (Path("/proc/net/xfrm_stat").exists(), "kernel xfrm (IPsec) not available"),
        ]
    )


def host_network() -> bool:
    """The container shares the host's network (docker bridges are visible)."""
    try:
        names = os.listdir("/sys/class/net")
    except OSError:
        return False
    return any(name == "docker0" or name.startswith("br-") for name in names)


def in_container() -> bool:
    if Path("/.dockerenv").exists():
        return True
    try:
        cgroup = Path("/proc/1/cgroup").read_text()
    except OSError:
        return False
    return any(marker in cgroup for marker in ("docker", "containerd", "/lxc/"))


def machine_arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine.lower())
