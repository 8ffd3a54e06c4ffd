"""Port specs as Hysteria writes them: ``443``, ``20000-30000``, ``443,5000-6000``, ``all``."""

from __future__ import annotations

from .errors import ParseError


def parse_ports(spec: str | int | list[int] | tuple[int, ...]) -> list[int]:
    """Sorted unique ports of a spec; raises :class:`ParseError` on anything malformed."""
    if isinstance(spec, int):
        spec = str(spec)
    if isinstance(spec, list | tuple):
        ports = set(spec)
    else:
        text = spec.strip()
        if text in ("all", "*"):
            # 0 cannot be dialed or bound as a concrete port, so "all" starts at 1.
            return list(range(1, 65536))
        ports = set()
        for part in text.split(","):
            part = part.strip()
            if not part:
                raise ParseError(f"empty port in {spec!r}")
            lo_text, sep, hi_text = part.partition("-")
            lo, hi = _port(lo_text), _port(hi_text) if sep else None
            if hi is None:
                ports.add(lo)
            else:
                ports.update(range(min(lo, hi), max(lo, hi) + 1))
    if not ports or any(not 0 < p < 65536 for p in ports):
        raise ParseError(f"bad port spec {spec!r}")
    return sorted(ports)


def _port(text: str) -> int:
    text = text.strip()
    if not text.isdigit():
        raise ParseError(f"bad port {text!r}")
    return int(text)


def is_hopping(spec: str | int) -> bool:
    return isinstance(spec, str) and ("," in spec or "-" in spec)


def split_host_ports(listen: str) -> tuple[str, str]:
    """``"[::1]:443"`` → ``("::1", "443")``; ``":443,5000-6000"`` → ``("", "443,5000-6000")``."""
    if listen.startswith("["):
        host, sep, rest = listen[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise ParseError(f"bad address {listen!r}")
        return host, rest[1:]
    host, sep, ports = listen.rpartition(":")
    if not sep:
        raise ParseError(f"missing port in {listen!r}")
    return host, ports


def format_ports(ports: list[int]) -> str:
    """Compact form of a port list: ``[1, 2, 3, 7]`` → ``"1-3,7"``."""
    parts: list[str] = []
    ordered = sorted(set(ports))
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)
