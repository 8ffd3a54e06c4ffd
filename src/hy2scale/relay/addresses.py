"""Relay magic addresses, via paths and ``#bridge=`` tags: pure string rules.

Names never contain ``/`` (path separator) or ``_`` (via delimiter), so the first ``_`` after the
via prefix always ends the path, while the target may contain any character.
"""

from __future__ import annotations

from dataclasses import dataclass

REGISTER = "_relay_register_:0"
CTRL = "_relay_s2c_ctrl_:0"
LIST_PEERS = "_relay_list_peers_:0"
PING = "_relay_ping_:0"
LATENCY = "_relay_latency_:0"
API = "_relay_api_:0"

VIA_PREFIX = "_relay_via_"
DATA_PREFIX = "_relay_data_"
IPTUN_PREFIX = "_relay_iptun_"
REBIND_PREFIX = "_relay_rebind_"
UDP_PREFIX = "udp:"

EXACT = frozenset({REGISTER, CTRL, LIST_PEERS, PING, LATENCY, API})
PREFIXES = (VIA_PREFIX, DATA_PREFIX, IPTUN_PREFIX, REBIND_PREFIX)
BRIDGE_TAG = "#bridge="
MAX_ADDR = 2048


def is_relay_address(addr: str) -> bool:
    return addr in EXACT or addr.startswith(PREFIXES)


def is_local_relay(addr: str) -> bool:
    """Relay kinds a peer may ask us to serve in reverse over its ctrl channel."""
    return is_relay_address(addr) and addr not in (REGISTER, CTRL) and not addr.startswith(DATA_PREFIX)


def routable_name(name: str) -> bool:
    """A name usable as a path segment: non-empty, without the path or via delimiters."""
    return bool(name) and "/" not in name and "_" not in name


def strip_bridge(addr: str) -> tuple[str, str]:
    """Split ``target#bridge=<id>`` into ``(target, id)``; ``id`` is ``""`` without a tag."""
    at = addr.find(BRIDGE_TAG)
    if at < 0:
        return addr, ""
    return addr[:at], addr[at + len(BRIDGE_TAG) :]


def unbracket(addr: str) -> str:
    """``[<relay address>]:0`` → ``<relay address>:0``.

    Generic clients (sing-box behind SOCKS) format a host containing ``:`` as an IPv6 literal;
    a relay address such as ``_relay_via_b_1.2.3.4:80`` is never one, so the brackets go.
    """
    if addr.startswith("[_relay_") and addr.endswith("]:0"):
        return addr[1:-3] + ":0"
    return addr


def data_address(req_id: str) -> str:
    return f"{DATA_PREFIX}{req_id}:0"


def parse_data_address(addr: str) -> str:
    """The request id of a ``_relay_data_<id>:0`` address."""
    body = addr[len(DATA_PREFIX) :]
    return body.removesuffix(":0")


@dataclass(frozen=True)
class Via:
    hops: tuple[str, ...]
    target: str


def build_via(hops: list[str] | tuple[str, ...], target: str) -> str:
    """The address the hop *before* ``hops[0]`` opens to reach ``target`` through ``hops``."""
    if not hops or any(not h or "/" in h or "_" in h for h in hops):
        raise ValueError(f"invalid via hops {hops!r}")
    addr = f"{VIA_PREFIX}{'/'.join(hops)}_{target}:0"
    if len(addr.encode()) > MAX_ADDR:
        raise ValueError("via address exceeds 2048 bytes")
    return addr


def parse_via(addr: str) -> Via:
    """Parse ``_relay_via_<h1/h2..>_<target>:0``; the target keeps any ``_`` it contains."""
    if not addr.startswith(VIA_PREFIX):
        raise ValueError("not a via address")
    body = addr[len(VIA_PREFIX) :]
    path, sep, target = body.partition("_")
    if not sep or not path:
        raise ValueError(f"malformed via address {addr!r}")
    target = target.removesuffix(":0")
    hops = tuple(h for h in path.split("/") if h)
    if not hops or not target:
        raise ValueError(f"malformed via address {addr!r}")
    return Via(hops, target)


def split_host_port(target: str) -> tuple[str, int]:
    """``host:port`` with optional IPv6 brackets; raises ``ValueError``."""
    host, sep, port = target.rpartition(":")
    if not sep or not host:
        raise ValueError(f"bad target {target!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    number = int(port)
    if not 0 < number < 65536:
        raise ValueError(f"bad port in {target!r}")
    return host, number


def join_host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
