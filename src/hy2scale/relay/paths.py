"""Origin-side rules for exit paths (`a/b/c`): self-prefix strip, loops, nesting, disabled hops.

Pure functions: the receiving hops do not re-check (wire behaviour of pv=3), so the origin is
where a path is authorised.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any


class PathError(ValueError):
    """The path may not be used; the message says why, for the API and logs."""


def split_path(path: str, self_name: str, self_id: str) -> list[str]:
    """Hops of ``path`` with empty segments dropped and a leading self name/id removed."""
    hops = [h for h in path.split("/") if h]
    if hops and hops[0] in (self_name, self_id):
        hops = hops[1:]
    return hops


def prefixes(hops: list[str]) -> list[str]:
    """``a``, ``a/b``, ``a/b/c`` for ``[a, b, c]``."""
    return ["/".join(hops[: i + 1]) for i in range(len(hops))]


def _flag(flags: Mapping[str, Mapping[str, Any]], key: str, name: str) -> bool:
    return bool(flags.get(key, {}).get(name))


def check_loops(hops: list[str], self_name: str, self_id: str) -> None:
    seen: set[str] = {self_name, self_id}
    for hop in hops:
        if hop in seen:
            raise PathError(f"exit path {'/'.join(hops)!r} loops (hop {hop!r} repeats or is this node)")
        seen.add(hop)


def check_nested(hops: list[str], flags: Mapping[str, Mapping[str, Any]]) -> None:
    """Every proper prefix must have nested discovery on; a direct peer is always allowed."""
    for prefix in prefixes(hops)[:-1]:
        if not _flag(flags, prefix, "nested"):
            raise PathError(
                f"exit path {'/'.join(hops)!r} not allowed: nested discovery is off for {prefix!r}"
            )


def disabled_reason(
    hops: list[str], flags: Mapping[str, Mapping[str, Any]], disabled_clients: Collection[str]
) -> str | None:
    for prefix in prefixes(hops):
        if _flag(flags, prefix, "disabled"):
            return f"exit path {prefix!r} is disabled"
    for hop in hops:
        if hop in disabled_clients or _flag(flags, hop, "disabled"):
            return f"peer {hop!r} is disabled"
    return None


def check_path(
    path: str,
    *,
    self_name: str,
    self_id: str,
    flags: Mapping[str, Mapping[str, Any]],
    disabled_clients: Collection[str] = (),
) -> list[str]:
    """The hops of an authorised path (``[]`` = this node); raises :class:`PathError`."""
    hops = split_path(path, self_name, self_id)
    check_loops(hops, self_name, self_id)
    check_nested(hops, flags)
    reason = disabled_reason(hops, flags, disabled_clients)
    if reason:
        raise PathError(reason)
    return hops
