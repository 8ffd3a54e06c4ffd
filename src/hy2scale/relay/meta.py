"""Register metadata (the meta16 JSON) and the compatibility flags derived from it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hy2scale import __version__ as _impl_version

PROTOCOL_VERSION = 3
# Go peers compare `v` as a string against "1.3.0"; we announce the protocol level we speak.
WIRE_VERSION = "1.3.4"
MIN_COMPAT = (1, 3, 0)
IMPL = f"hy2scale-py/{_impl_version}"


def our_meta(node_id: str, tun: bool = False) -> dict[str, Any]:
    return {"v": WIRE_VERSION, "tun": tun, "pv": PROTOCOL_VERSION, "id": node_id, "impl": IMPL}


def _version_tuple(text: str) -> tuple[int, ...] | None:
    try:
        return tuple(int(p) for p in text.lstrip("v").split("-")[0].split("."))
    except ValueError:
        return None


@dataclass(frozen=True)
class PeerMeta:
    version: str
    pv: int
    node_id: str
    tun: bool
    impl: str

    @property
    def incompatible(self) -> bool:
        """Older than 1.3.0 (or no meta): such a peer is never used as a hop."""
        if not self.version or self.version == "1.0.0":
            return True
        parsed = _version_tuple(self.version)
        return parsed is None or parsed < MIN_COMPAT

    @property
    def unsupported(self) -> bool:
        """A newer protocol generation: usable directly, but its sub-peers are hidden."""
        return self.pv > PROTOCOL_VERSION


def parse_peer_meta(meta: dict[str, Any]) -> PeerMeta:
    def text(key: str) -> str:
        value = meta.get(key)
        return value if isinstance(value, str) else ""

    pv = meta.get("pv")
    return PeerMeta(
        version=text("v") or "1.0.0",
        pv=pv if isinstance(pv, int) and not isinstance(pv, bool) else 0,
        node_id=text("id"),
        tun=meta.get("tun") is True,
        impl=text("impl"),
    )
