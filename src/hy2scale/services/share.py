"""Share links and subscriptions for one user: hysteria2://, ss://, socks5://, http(s):// URIs,
a QR PNG, and subscription bodies (base64 URI list, sing-box outbounds, Clash/mihomo YAML).

Pure functions over the store's dicts; the API router supplies the host the client reached us on.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import segno
import yaml

from hy2scale.accounts.users import User
from hy2scale.services.shadowsocks import server_key
from hy2scale.services.ss_codec import METHODS

WILDCARDS = {"", "0.0.0.0", "::", "[::]"}
FORMATS = ("base64", "uri", "singbox", "clash")


@dataclass(frozen=True)
class Endpoint:
    """One way for a user to reach this node."""

    proxy: str  # hy2, ss, socks5, http
    name: str
    uri: str
    singbox: dict[str, Any]
    clash: dict[str, Any]


def _host_port(listen: str, host: str) -> tuple[str, str]:
    """The advertised host (the one the admin reached us on when the listener is a wildcard) and ports."""
    bind, _, ports = listen.rpartition(":")
    bind = bind.strip("[]")
    return (bind if bind not in WILDCARDS else host), ports


def _uri_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _first_port(ports: str) -> int:
    return int(ports.split(",")[0].split("-")[0])


def endpoints(node: Any, user: User, host: str) -> list[Endpoint]:
    """Every service this user may use, in UI order: hy2, ss, then SOCKS5/HTTP proxies."""
    store = node.store
    out: list[Endpoint] = []
    server = store.sections.get("server")
    node_section = store.sections.get("node")
    if (
        server.get("enabled", True)
        and server.get("listen")
        and node_section.get("hy2_user_auth")
        and user.allows("hy2")
    ):
        h, ports = _host_port(server["listen"], host)
        password = user.effective_password("hy2")
        tag = f"{user.username}-hy2"
        out.append(
            Endpoint(
                "hy2",
                tag,
                f"hysteria2://{quote(password, safe='')}@{_uri_host(h)}:{ports}/?insecure=1#{quote(user.username, safe='')}",
                {
                    "type": "hysteria2",
                    "tag": tag,
                    "server": h,
                    "server_port": _first_port(ports),
                    "password": password,
                    "tls": {"enabled": True, "insecure": True},
                },
                {
                    "name": tag,
                    "type": "hysteria2",
                    "server": h,
                    "port": _first_port(ports),
                    "password": password,
                    "skip-cert-verify": True,
                },
            )
        )
    ss = store.sections.get("shadowsocks")
    method = METHODS.get(str(ss.get("method", "")))
    if ss.get("enabled") and ss.get("listen") and method is not None and user.allows("ss"):
        h, ports = _host_port(ss["listen"], host)
        password = user.effective_password("ss")
        if method.is_2022 and not method.chacha:
            psk = base64.b64encode(server_key(node, ss, method)).decode()
            password = f"{psk}:{password}"
        tag = f"{user.username}-ss"
        if method.is_2022:
            userinfo = f"{method.name}:{quote(password, safe='')}"  # SIP002: 2022 keys are not base64-wrapped
        else:
            userinfo = base64.urlsafe_b64encode(f"{method.name}:{password}".encode()).decode().rstrip("=")
        port = _first_port(ports)
        out.append(
            Endpoint(
                "ss",
                tag,
                f"ss://{userinfo}@{_uri_host(h)}:{port}#{quote(user.username, safe='')}",
                {
                    "type": "shadowsocks",
                    "tag": tag,
                    "server": h,
                    "server_port": port,
                    "method": method.name,
                    "password": password,
                },
                {
                    "name": tag,
                    "type": "ss",
                    "server": h,
                    "port": port,
                    "cipher": method.name,
                    "password": password,
                    "udp": True,
                },
            )
        )
    for proxy in store.proxies.list():
        protocol = "http" if proxy.get("protocol") == "http" else "socks5"
        if not proxy.get("enabled", True) or not proxy.get("listen") or not user.allows(protocol):
            continue
        h, ports = _host_port(proxy["listen"], host)
        port = _first_port(ports)
        tls = bool(proxy.get("tls_cert"))
        scheme = "https" if protocol == "http" and tls else protocol
        creds = f"{quote(user.username, safe='')}:{quote(user.password, safe='')}"
        tag = f"{user.username}-{proxy['id']}"
        singbox: dict[str, Any] = {
            "type": "http" if protocol == "http" else "socks",
            "tag": tag,
            "server": h,
            "server_port": port,
            "username": user.username,
            "password": user.password,
        }
        clash: dict[str, Any] = {
            "name": tag,
            "type": protocol,
            "server": h,
            "port": port,
            "username": user.username,
            "password": user.password,
        }
        if protocol == "socks5":
            singbox["version"] = "5"
            clash["udp"] = True
        if tls:
            singbox["tls"] = {"enabled": True, "insecure": True}
            clash.update({"tls": True, "skip-cert-verify": True})
        out.append(
            Endpoint(
                protocol,
                tag,
                f"{scheme}://{creds}@{_uri_host(h)}:{port}#{quote(user.username, safe='')}",
                singbox,
                clash,
            )
        )
    return out


def qr_png(text: str, scale: int = 6) -> bytes:
    buf = io.BytesIO()
    segno.make(text, error="m").save(buf, kind="png", scale=scale, border=2)
    return buf.getvalue()


# ---- subscriptions ------------------------------------------------------------------------------


def _sub_secret(node: Any) -> bytes:
    # Tokens are bound to the node's server password: rotating it revokes every subscription.
    server = node.store.sections.get("server")
    return hashlib.sha256(b"hy2scale-subscription\0" + str(server.get("password", "")).encode()).digest()


def sub_token(node: Any, user: User) -> str:
    """Stable per user; changes when the user's password changes (so a leaked link can be revoked)."""
    msg = f"{user.id}\0{user.password}".encode()
    return hmac.new(_sub_secret(node), msg, hashlib.sha256).hexdigest()[:32]


def user_for_token(node: Any, users: list[User], token: str) -> User | None:
    # Bytes, not str: compare_digest refuses non-ASCII str, and a token comes from the URL.
    wanted = token.encode()
    for user in users:
        if hmac.compare_digest(sub_token(node, user).encode(), wanted):
            return user
    return None


class TokenIndex:
    """Subscription token → user, rebuilt only when the users or the server password change.

    ``/sub/{token}`` is public: a request must not cost a read of every user and an HMAC each.
    """

    def __init__(self) -> None:
        self._key: tuple[int, bytes] | None = None
        self._users: dict[str, User] = {}

    def lookup(self, node: Any, token: str) -> User | None:
        accounts = getattr(node, "accounts", None)
        if accounts is None:  # no live users index to follow: look it up the slow way
            return user_for_token(node, [User.from_dict(raw) for raw in node.store.users.list()], token)
        key = (accounts.version, _sub_secret(node))
        if key != self._key:
            self._users = {sub_token(node, user): user for user in accounts.users()}
            self._key = key
        user = self._users.get(token)
        # The dict lookup found it; compare_digest keeps the final check constant-time.
        if user is not None and hmac.compare_digest(sub_token(node, user).encode(), token.encode()):
            return user
        return None


def pick_format(requested: str | None, user_agent: str) -> str:
    if requested in FORMATS:
        return requested
    agent = user_agent.lower()
    if "sing-box" in agent or agent.startswith(("sfa", "sfi", "sfm")):
        return "singbox"
    if any(name in agent for name in ("clash", "mihomo", "stash")):
        return "clash"
    return "base64"


def subscription(items: list[Endpoint], fmt: str) -> tuple[str, str]:
    """(body, media type) for one of FORMATS."""
    if fmt == "singbox":
        return json.dumps({"outbounds": [e.singbox for e in items]}, indent=2), "application/json"
    if fmt == "clash":
        names = [e.name for e in items]
        doc = {
            "proxies": [e.clash for e in items],
            "proxy-groups": [{"name": "hy2scale", "type": "select", "proxies": names or ["DIRECT"]}],
            "rules": ["MATCH,hy2scale"],
        }
        return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), "text/yaml; charset=utf-8"
    text = "\n".join(e.uri for e in items)
    if fmt == "uri":
        return text, "text/plain; charset=utf-8"
    return base64.b64encode(text.encode()).decode(), "text/plain; charset=utf-8"
