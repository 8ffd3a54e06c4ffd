"""Checks shared by several routers: address specs, exit paths and the exit-mode rules."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from hy2scale.api.errors import ApiError
from hy2scale.api.schemas.common import NAME_PATTERN
from hy2scale.hysteria.errors import ParseError
from hy2scale.hysteria.ports import parse_ports, split_host_ports

NAME_RE = re.compile(NAME_PATTERN)
# "direct" is the seed's spelling of the default (failover) mode (DESIGN §4.5); the last two are legacy.
EXIT_MODES = {
    "": "",
    "direct": "",
    "quality": "quality",
    "aggregate": "aggregate",
    "stability": "stability",
    "speed": "speed",
}


def valid_addr_spec(addr: str, allow_empty_host: bool = False) -> bool:
    """``host:portspec`` (``[v6]:443``, ``example.com:443,5000-6000``); the host may be empty only for listens."""
    try:
        host, ports = split_host_ports(addr.strip())
        parse_ports(ports)
    except ParseError:
        return False
    return bool(host) or allow_empty_host


def check_addr(addr: str, allow_empty_host: bool = False) -> None:
    if not valid_addr_spec(addr, allow_empty_host):
        raise ApiError(400, f"invalid address format {addr!r}")


def valid_path(path: str) -> bool:
    """A peer path: ``/``-separated node names (``us/us-east``)."""
    return bool(path) and all(NAME_RE.match(seg) for seg in path.split("/"))


def sync_exit(data: dict[str, Any], sanitize_mode: bool = True) -> dict[str, Any]:
    """Applies the original's exit rules in place: ``exit_via`` and ``exit_paths`` agree, the mode is known,
    and ``aggregate`` paths all end at the same node. Raises ``ApiError(400)``."""
    paths = [p for p in data.get("exit_paths") or [] if p]
    via = data.get("exit_via") or ""
    if paths:
        via = paths[0]
    elif via:
        paths = [via]
    for path in paths:
        if not valid_path(path):
            raise ApiError(400, f"invalid exit path {path!r}")
    data["exit_via"], data["exit_paths"] = via, paths
    if not sanitize_mode:
        return data
    mode = data.get("exit_mode") or ""
    if mode not in EXIT_MODES:
        raise ApiError(400, f"unknown exit_mode {mode!r}")
    mode = EXIT_MODES[mode] if paths else ""
    if mode in ("aggregate", "speed"):
        ends = {p.rsplit("/", 1)[-1] for p in paths}
        if len(ends) > 1:
            first, second = (
                paths[0],
                next(p for p in paths if p.rsplit("/", 1)[-1] != paths[0].rsplit("/", 1)[-1]),
            )
            raise ApiError(
                400,
                f"aggregate mode requires all paths to reach the same exit node, but got {first!r} and {second!r}",
            )
    data["exit_mode"] = mode
    return data


def strip_self(path: str, names: Mapping[str, Any]) -> str:
    """A leading ``<self name>/`` or ``<node_id>/`` segment is dropped (the UI sends full paths)."""
    head, sep, rest = path.partition("/")
    if sep and rest and head in {names.get("name"), names.get("node_id")}:
        return rest
    return path
