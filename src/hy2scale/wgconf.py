"""WireGuard client .conf text and its QR code (pure functions; keys come from ``keygen``)."""

from __future__ import annotations

import io

import segno

DEFAULT_DNS = "1.1.1.1, 8.8.8.8"
QR_PIXELS = 512
QR_BORDER = 4


def client_conf(
    *,
    peer_private_key: str,
    peer_address: str,
    server_public_key: str,
    listen_port: int,
    dns: str = "",
    mtu: int = 0,
    endpoint: str = "",
    keepalive: int = 0,
) -> str:
    """The .conf a peer imports into its WireGuard client; all its traffic goes through the node."""
    lines = [
        "[Interface]",
        f"PrivateKey = {peer_private_key}",
        f"Address = {peer_address}",
        f"DNS = {dns or DEFAULT_DNS}",
    ]
    if mtu > 0:
        lines.append(f"MTU = {mtu}")
    lines += ["", "[Peer]", f"PublicKey = {server_public_key}"]
    if endpoint:
        host = f"[{endpoint}]" if ":" in endpoint and not endpoint.startswith("[") else endpoint
        lines.append(f"Endpoint = {host}:{listen_port}")
    lines.append("AllowedIPs = 0.0.0.0/0, ::/0")
    if keepalive > 0:
        lines.append(f"PersistentKeepalive = {keepalive}")
    return "\n".join(lines) + "\n"


def qr_png(text: str) -> bytes:
    """A PNG about QR_PIXELS wide with medium error correction; ValueError when the text is too long."""
    try:
        code = segno.make(text, error="m", boost_error=False, micro=False)
    except segno.DataOverflowError as exc:
        raise ValueError("text too long for a QR code") from exc
    width = code.symbol_size(scale=1, border=QR_BORDER)[0]
    out = io.BytesIO()
    code.save(out, kind="png", scale=max(1, QR_PIXELS // width), border=QR_BORDER)
    return out.getvalue()
