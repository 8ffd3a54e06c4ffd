"""Share links: ``hysteria2://auth@host:ports/?sni=..&insecure=1&obfs=salamander&...#name``."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, unquote, urlencode

from .config import ClientConfig
from .errors import ParseError
from .ports import parse_ports

SCHEMES = ("hysteria2", "hy2")
_TRUE = {"1", "t", "true", "TRUE", "True", "T"}
_FALSE = {"0", "f", "false", "FALSE", "False", "F"}


def normalize_pin(pin: str) -> str:
    return pin.lower().replace(":", "").replace("-", "")


@dataclass
class ShareLink:
    host: str
    ports: str = "443"
    auth: str = ""
    sni: str = ""
    insecure: bool = False
    pin_sha256: str = ""
    obfs: str = ""
    obfs_password: str = ""
    name: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def to_client_config(self) -> ClientConfig:
        return ClientConfig(
            server=self.host,
            ports=self.ports,
            password=self.auth,
            sni=self.sni,
            insecure=self.insecure,
            pin_sha256=self.pin_sha256,
            obfs_password=self.obfs_password if self.obfs == "salamander" else "",
        )


def parse_uri(uri: str) -> ShareLink:
    """Parse the official form; the original hy2scale's ``mport=`` query key also sets ports."""
    scheme, sep, rest = uri.strip().partition("://")
    if not sep or scheme.lower() not in SCHEMES:
        raise ParseError("not a hysteria2:// URI")
    rest, _, fragment = rest.partition("#")
    rest, _, query = rest.partition("?")
    netloc = rest.split("/", 1)[0]
    userinfo, at, hostport = netloc.rpartition("@")
    auth = ""
    if at:
        user, colon, password = userinfo.partition(":")
        auth = unquote(user) + (":" + unquote(password) if colon else "")
    host, ports = _split_hostport(hostport)
    params = dict(parse_qsl(query, keep_blank_values=True))
    if params.get("mport"):
        ports = params.pop("mport")
    parse_ports(ports)
    link = ShareLink(host=host, ports=ports, auth=auth, name=unquote(fragment))
    link.sni = params.pop("sni", "")
    insecure = params.pop("insecure", "")
    if insecure in _TRUE:
        link.insecure = True
    elif insecure and insecure not in _FALSE:
        raise ParseError(f"bad insecure value {insecure!r}")
    link.pin_sha256 = normalize_pin(params.pop("pinSHA256", ""))
    link.obfs = params.pop("obfs", "")
    link.obfs_password = params.pop("obfs-password", "")
    if link.obfs and link.obfs != "salamander":
        raise ParseError(f"unsupported obfs {link.obfs!r}")
    if link.obfs and not link.obfs_password:
        raise ParseError("obfs-password is required with obfs")
    link.extra = params
    return link


def _split_hostport(hostport: str) -> tuple[str, str]:
    if hostport.startswith("["):
        host, sep, rest = hostport[1:].partition("]")
        if not sep:
            raise ParseError("unterminated IPv6 host")
        return host, rest[1:] if rest.startswith(":") and rest[1:] else "443"
    host, sep, ports = hostport.partition(":")
    if not host:
        raise ParseError("missing host")
    return host, ports if sep and ports else "443"


def build_uri(link: ShareLink) -> str:
    """The official form (ports inside the host part, never ``mport``)."""
    auth = ""
    if link.auth:
        user, colon, password = link.auth.partition(":")
        auth = quote(user, safe="") + (":" + quote(password, safe="") if colon else "") + "@"
    host = f"[{link.host}]" if ":" in link.host else link.host
    params: dict[str, str] = {}
    if link.obfs:
        params["obfs"] = link.obfs
        params["obfs-password"] = link.obfs_password
    if link.sni:
        params["sni"] = link.sni
    if link.insecure:
        params["insecure"] = "1"
    if link.pin_sha256:
        params["pinSHA256"] = link.pin_sha256
    params.update(link.extra)
    query = "?" + urlencode(params, quote_via=quote) if params else ""
    name = "#" + quote(link.name, safe="") if link.name else ""
    return f"hysteria2://{auth}{host}:{link.ports}/{query}{name}"
