"""Inbound service settings: SOCKS5/HTTP proxies, Shadowsocks, L2TP, IKEv2, WireGuard (+ peers).

Everything here is stored and validated; the services part subscribes to the bus topics and
hot-reloads. Port clashes between our own enabled listeners are refused with 409.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from fastapi import APIRouter, Depends, Query, Response

from hy2scale import hostprobe, keygen, wgconf
from hy2scale.api.deps import JSON_BODY_LIMIT, ApiError, get_node
from hy2scale.api.routers.tls import cert_store
from hy2scale.api.schemas.common import Ok
from hy2scale.api.schemas_b.common import parse_listen
from hy2scale.api.schemas_b.services import (
    Ikev2,
    Ikev2In,
    KeyPair,
    L2tp,
    L2tpIn,
    Proxy,
    ProxyIn,
    Shadowsocks,
    ShadowsocksIn,
    WgPeer,
    WgPeerIn,
    WireGuard,
    WireGuardIn,
)
from hy2scale.certs import CertError

# FastAPI reads and parses a JSON body before the auth dependency runs: without a cap an anonymous
# client could make us buffer and parse gigabytes.
router = APIRouter(tags=["services"], max_body_size=JSON_BODY_LIMIT)

WILDCARDS = {"", "0.0.0.0", "::"}
IKE_PORTS = (500, 4500)


# --- port clashes --------------------------------------------------------------------------------


def running_api_listen(node: Any) -> str:
    settings = getattr(node, "settings", None)
    for attr in ("api", "api_listen", "listen"):
        value = getattr(settings, attr, None)
        if isinstance(value, str) and value:
            return value
    return node.store.sections.get("ui").get("listen") or "0.0.0.0:5565"


def configured_listeners(node: Any) -> list[tuple[str, str, int, str]]:
    """(proto, host, port, owner) of every enabled listener this node is configured to open."""
    store = node.store
    out: list[tuple[str, str, int, str]] = []

    def add(proto: str, spec: str, owner: str) -> None:
        try:
            host, port = parse_listen(spec)
        except ValueError:
            return  # an unparsable stored value cannot clash; its own endpoint reports it
        out.append((proto, host, port, owner))

    add("tcp", running_api_listen(node), "ui")
    server = store.sections.get("server")
    if server.get("enabled", True) and server.get("listen"):
        out.extend(("udp", host, port, "hy2") for host, port in _hy2_ports(server["listen"]))
    for proxy in store.proxies.list():
        if proxy.get("enabled"):
            add("tcp", proxy.get("listen", ""), f"proxy:{proxy['id']}")
    ss = store.sections.get("shadowsocks")
    if ss.get("enabled") and ss.get("listen"):
        add("tcp", ss["listen"], "shadowsocks")
    l2tp = store.sections.get("l2tp")
    if l2tp.get("enabled"):
        add("udp", f":{l2tp.get('listen', '1701')}", "l2tp")
    ikev2 = store.sections.get("ikev2")
    # L2TP/IPsec and IKEv2 share one charon, so IKE ports belong to whichever is on.
    if ikev2.get("enabled") or l2tp.get("enabled"):
        for port in IKE_PORTS:
            out.append(("udp", "", port, "ipsec"))
    wg = store.sections.get("wireguard")
    if wg.get("enabled"):
        out.append(("udp", "", int(wg.get("listen_port", 51820)), "wireguard"))
    return out


def _hy2_ports(spec: str) -> list[tuple[str, int]]:
    """``host:5565`` or, with port hopping, ``host:6565,7000-7010`` → every (host, port)."""
    host, _, ports = spec.strip().rpartition(":")
    host = host.strip("[]")
    out: list[tuple[str, int]] = []
    for part in ports.split(","):
        low, _, high = part.strip().partition("-")
        if low.isdigit() and (not high or high.isdigit()):
            first, last = int(low), int(high or low)
            out.extend((host, port) for port in range(first, min(last, 65535) + 1) if port > 0)
    return out


def _overlaps(a: str, b: str) -> bool:
    if a in WILDCARDS or b in WILDCARDS:
        return True
    try:
        return ipaddress.ip_address(a) == ipaddress.ip_address(b)
    except ValueError:
        return a.lower() == b.lower()


def check_clash(node: Any, wanted: list[tuple[str, str, int]], owner: str) -> None:
    """409 when one of ``wanted`` (proto, host, port) is taken by another of our listeners."""
    for proto, host, port, other in configured_listeners(node):
        if (
            other == owner
            or (owner == "l2tp" and other == "ipsec")
            or (owner == "ikev2" and other == "ipsec")
        ):
            continue
        for w_proto, w_host, w_port in wanted:
            if proto == w_proto and port == w_port and _overlaps(host, w_host):
                raise ApiError(409, f"{w_proto} port {w_port} is already used by {other}")


# --- SOCKS5 / HTTP proxies -----------------------------------------------------------------------


def _cert_info(node: Any, cert_id: str, field: str) -> dict[str, Any]:
    try:
        info = cert_store(node).info(cert_id)
    except CertError:
        info = {}
    if not info.get("key_file"):
        raise ApiError(400, f"{field} {cert_id!r} is not a stored certificate with a key")
    return info


def _proxy_entity(body: ProxyIn, proxy_id: str) -> dict[str, Any]:
    return {**body.model_dump(), "id": proxy_id}


def _run_state(node: Any, service_id: str) -> dict[str, Any]:
    """``{running, error}`` from the service manager; a node without one runs nothing."""
    services = getattr(node, "services", None)
    state = services.status().get(service_id, {}) if services is not None else {}
    return {"running": bool(state.get("running")), "error": str(state.get("error") or "")}


def _with_state(node: Any, proxy: dict[str, Any]) -> dict[str, Any]:
    return {**proxy, **_run_state(node, proxy["id"])}


@router.get("/proxies", response_model=list[Proxy])
def list_proxies(node: Any = Depends(get_node)) -> list[dict[str, Any]]:
    return [_with_state(node, p) for p in node.store.proxies.list()]


@router.post("/proxies", response_model=Proxy)
async def create_proxy(body: ProxyIn, node: Any = Depends(get_node)) -> dict[str, Any]:
    proxy_id = body.id or body.protocol
    if node.store.proxies.get(proxy_id) is not None:
        raise ApiError(409, f"proxy {proxy_id!r} already exists")
    if body.tls_cert:
        _cert_info(node, body.tls_cert, "tls_cert")
    if body.enabled:
        check_clash(node, [("tcp", *parse_listen(body.listen))], f"proxy:{proxy_id}")
    with node.store.transaction():
        created = node.store.proxies.create(_proxy_entity(body, proxy_id))
    await node.bus.publish("proxies")
    return _with_state(node, created)


@router.put("/proxies/{proxy_id}", response_model=Proxy)
async def update_proxy(proxy_id: str, body: ProxyIn, node: Any = Depends(get_node)) -> dict[str, Any]:
    if node.store.proxies.get(proxy_id) is None:
        raise ApiError(404, f"proxy {proxy_id!r} not found")
    if body.id and body.id != proxy_id:
        raise ApiError(400, "id in the body differs from the path")
    if body.tls_cert:
        _cert_info(node, body.tls_cert, "tls_cert")
    if body.enabled:
        check_clash(node, [("tcp", *parse_listen(body.listen))], f"proxy:{proxy_id}")
    with node.store.transaction():
        updated = node.store.proxies.update(proxy_id, _proxy_entity(body, proxy_id))
    await node.bus.publish("proxies")
    return _with_state(node, updated)


@router.delete("/proxies/{proxy_id}", response_model=Ok)
async def delete_proxy(proxy_id: str, node: Any = Depends(get_node)) -> Ok:
    if node.store.proxies.get(proxy_id) is None:
        raise ApiError(404, f"proxy {proxy_id!r} not found")
    with node.store.transaction():
        node.store.proxies.delete(proxy_id)
    await node.bus.publish("proxies")
    return Ok()


# --- Shadowsocks ---------------------------------------------------------------------------------


def _ss(node: Any) -> dict[str, Any]:
    stored = node.store.sections.get("shadowsocks")
    fields = {k: stored.get(k) for k in Shadowsocks.model_fields if k in stored}
    return {**fields, **_run_state(node, "ss")}


@router.get("/ss", response_model=Shadowsocks)
@router.get("/shadowsocks", response_model=Shadowsocks)
def get_shadowsocks(node: Any = Depends(get_node)) -> dict[str, Any]:
    return _ss(node)


@router.put("/ss", response_model=Shadowsocks)
@router.put("/shadowsocks", response_model=Shadowsocks)
async def put_shadowsocks(body: ShadowsocksIn, node: Any = Depends(get_node)) -> dict[str, Any]:
    if body.enabled:
        check_clash(node, [("tcp", *parse_listen(body.listen))], "shadowsocks")
    with node.store.transaction():
        node.store.sections.put("shadowsocks", body.model_dump())
    await node.bus.publish("shadowsocks")
    return _ss(node)


# --- L2TP / IKEv2 --------------------------------------------------------------------------------


def _l2tp(node: Any) -> dict[str, Any]:
    cap = hostprobe.l2tp_capability()
    stored = node.store.sections.get("l2tp")
    return {
        **{k: stored.get(k) for k in L2tpIn.model_fields},
        "capable": cap.capable,
        "reason": cap.reason,
        "host_network": hostprobe.host_network(),
    }


@router.get("/l2tp", response_model=L2tp)
def get_l2tp(node: Any = Depends(get_node)) -> dict[str, Any]:
    return _l2tp(node)


@router.put("/l2tp", response_model=L2tp)
async def put_l2tp(body: L2tpIn, node: Any = Depends(get_node)) -> dict[str, Any]:
    if body.enabled:
        # Saving a disabled config is always allowed, so an operator can prepare it before the host is ready.
        cap = hostprobe.l2tp_capability()
        if not cap.capable:
            raise ApiError(403, f"L2TP unavailable: {cap.reason}")
        check_clash(node, [("udp", "", int(body.listen)), *(("udp", "", p) for p in IKE_PORTS)], "l2tp")
    with node.store.transaction():
        node.store.sections.put("l2tp", body.model_dump())
    await node.bus.publish("l2tp")
    return _l2tp(node)


def _ikev2(node: Any) -> dict[str, Any]:
    cap = hostprobe.ikev2_capability()
    stored = node.store.sections.get("ikev2")
    data = {k: stored.get(k) for k in Ikev2In.model_fields}
    if not data["local_id"]:
        data["local_id"] = node.store.sections.get("node").get("node_id", "")
    if not data["default_exit_paths"]:
        data["default_exit_paths"] = [data["default_exit"]] if data["default_exit"] else []
    return {**data, "capable": cap.capable, "reason": cap.reason, "host_network": hostprobe.host_network()}


@router.get("/ikev2", response_model=Ikev2)
def get_ikev2(node: Any = Depends(get_node)) -> dict[str, Any]:
    return _ikev2(node)


@router.put("/ikev2", response_model=Ikev2)
async def put_ikev2(body: Ikev2In, node: Any = Depends(get_node)) -> dict[str, Any]:
    if body.enabled:
        cap = hostprobe.ikev2_capability()
        if not cap.capable:
            raise ApiError(403, f"IKEv2 unavailable: {cap.reason}")
        if body.mode == "mschapv2":
            if not _cert_info(node, body.cert_id, "cert_id")["is_ca"]:
                raise ApiError(400, f"cert_id {body.cert_id!r} is not a CA certificate")
        check_clash(node, [("udp", "", p) for p in IKE_PORTS], "ikev2")
    with node.store.transaction():
        node.store.sections.put("ikev2", body.model_dump())
    await node.bus.publish("ikev2")
    return _ikev2(node)


# --- WireGuard -----------------------------------------------------------------------------------


def _wg_status(node: Any) -> tuple[bool, int]:
    """Live state from the services part when it exposes it; a stopped service otherwise."""
    services = getattr(node, "services", None)
    status = getattr(services, "wireguard_status", None)
    if callable(status):
        running, connected = status()
        return bool(running), int(connected)
    return False, 0


def _wireguard(node: Any) -> dict[str, Any]:
    stored = node.store.sections.get("wireguard")
    running, connected = _wg_status(node)
    private = stored.get("private_key", "")
    try:
        public = keygen.wg_public_key(private) if private else ""
    except ValueError:
        public = ""
    return {
        "running": running,
        "connected": connected,
        **{k: stored.get(k) for k in ("enabled", "listen_port", "address", "dns", "mtu")},
        "private_key": private,
        "public_key": public,
        "peers": node.store.wg_peers.list(),
    }


def _peer_entity(body: WgPeerIn, name: str) -> dict[str, Any]:
    return {**body.model_dump(), "name": name}


def _check_peer_unique(node: Any, name: str, public_key: str, current: str | None) -> None:
    if name != current and node.store.wg_peers.get(name) is not None:
        raise ApiError(409, f"wireguard peer {name!r} already exists")
    owner = node.store.wg_peers.find("public_key", public_key)
    if owner is not None and owner["name"] != current:
        raise ApiError(409, f"public key already used by peer {owner['name']!r}")


@router.get("/wireguard", response_model=WireGuard)
def get_wireguard(node: Any = Depends(get_node)) -> dict[str, Any]:
    return _wireguard(node)


@router.put("/wireguard", response_model=WireGuard)
async def put_wireguard(body: WireGuardIn, node: Any = Depends(get_node)) -> dict[str, Any]:
    current = node.store.sections.get("wireguard")
    private = body.private_key or current.get("private_key", "")
    if body.enabled:
        if not private:
            raise ApiError(400, "private_key is required to enable WireGuard")
        check_clash(node, [("udp", "", body.listen_port)], "wireguard")
    peers = body.peers
    if peers is not None:
        names = [p.name for p in peers]
        if "" in names or len(set(names)) != len(names):
            raise ApiError(400, "every peer needs a unique name")
        keys = [p.public_key for p in peers]
        if len(set(keys)) != len(keys):
            raise ApiError(409, "two peers share a public key")
    section = {**body.model_dump(exclude={"peers"}), "private_key": private}
    with node.store.transaction():
        node.store.sections.put("wireguard", section)
        if peers is not None:
            node.store.wg_peers.replace_all([_peer_entity(p, p.name) for p in peers])
    await node.bus.publish("wireguard")
    return _wireguard(node)


@router.post("/wireguard/generate-key", response_model=KeyPair)
def generate_key() -> KeyPair:
    private = keygen.wg_private_key()
    return KeyPair(private_key=private, public_key=keygen.wg_public_key(private))


@router.post("/wireguard/peers", response_model=WgPeer)
async def create_wg_peer(body: WgPeerIn, node: Any = Depends(get_node)) -> dict[str, Any]:
    if not body.name:
        raise ApiError(400, "name required")
    _check_peer_unique(node, body.name, body.public_key, None)
    with node.store.transaction():
        created = node.store.wg_peers.create(_peer_entity(body, body.name))
    await node.bus.publish("wireguard")
    return created


@router.put("/wireguard/peers/{name}", response_model=WgPeer)
async def update_wg_peer(name: str, body: WgPeerIn, node: Any = Depends(get_node)) -> dict[str, Any]:
    if node.store.wg_peers.get(name) is None:
        raise ApiError(404, f"wireguard peer {name!r} not found")
    new_name = body.name or name
    _check_peer_unique(node, new_name, body.public_key, name)
    with node.store.transaction():
        updated = node.store.wg_peers.update(name, _peer_entity(body, new_name))
    await node.bus.publish("wireguard")
    return updated


@router.delete("/wireguard/peers/{name}", response_model=Ok)
async def delete_wg_peer(name: str, node: Any = Depends(get_node)) -> Ok:
    if node.store.wg_peers.get(name) is None:
        raise ApiError(404, f"wireguard peer {name!r} not found")
    with node.store.transaction():
        node.store.wg_peers.delete(name)
    await node.bus.publish("wireguard")
    return Ok()


def _peer_conf(node: Any, name: str, endpoint: str) -> str:
    peer = node.store.wg_peers.get(name)
    if peer is None:
        raise ApiError(404, f"wireguard peer {name!r} not found")
    wg = node.store.sections.get("wireguard")
    if not wg.get("private_key"):
        raise ApiError(404, "wireguard not configured")
    if not peer.get("private_key"):
        raise ApiError(409, f"peer {name!r} has no stored private key, so no .conf can be built")
    return wgconf.client_conf(
        peer_private_key=peer["private_key"],
        peer_address=peer["allowed_ips"],
        server_public_key=keygen.wg_public_key(wg["private_key"]),
        listen_port=int(wg["listen_port"]),
        dns=node.store.sections.get("ui").get("dns", ""),
        mtu=int(wg.get("mtu") or 0),
        endpoint=endpoint,
        keepalive=int(peer.get("keepalive") or 0),
    )


_ENDPOINT = Query("", max_length=253, description="host the client dials (the node's public name or IP)")


@router.get(
    "/wireguard/peers/{name}/config",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "WireGuard .conf"}},
)
def wg_peer_config(name: str, endpoint: str = _ENDPOINT, node: Any = Depends(get_node)) -> Response:
    text = _peer_conf(node, name, endpoint)
    return Response(
        text,
        media_type="text/plain; charset=utf-8",
        # Names imported from an original config were never validated: keep the header well-formed.
        headers={
            "Content-Disposition": f'attachment; filename="{re.sub(r"[^A-Za-z0-9._@-]", "_", name)}.conf"'
        },
    )


@router.get(
    "/wireguard/qr",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "QR code PNG"}},
)
def wg_qr(
    peer: str = Query("", max_length=64),
    text: str = Query("", max_length=4096),
    endpoint: str = _ENDPOINT,
    node: Any = Depends(get_node),
) -> Response:
    if not text:
        if not peer:
            raise ApiError(400, "missing text or peer")
        text = _peer_conf(node, peer, endpoint)
    try:
        png = wgconf.qr_png(text)
    except ValueError as exc:
        raise ApiError(400, str(exc)) from exc
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})
