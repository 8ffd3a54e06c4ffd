"""This node: identity and hy2 server (GET/PUT /node), share URL, stats, topology."""

from __future__ import annotations

import logging
import shutil
from typing import Any

from fastapi import APIRouter, Query, Request

from hy2scale import RELAY_PROTOCOL_VERSION, hostprobe
from hy2scale.api.deps import JSON_BODY_LIMIT, ApiError, get_node
from hy2scale.api.live import live_call
from hy2scale.api.schemas.common import Ok
from hy2scale.api.schemas.node import NodeInfo, NodeUpdate, ShareUrl, Stats, TopologyNode
from hy2scale.api.validation import valid_addr_spec
from hy2scale.hysteria.ports import split_host_ports
from hy2scale.hysteria.uri import ShareLink, build_uri

log = logging.getLogger("hy2scale.api.node")

router = APIRouter(tags=["node"], max_body_size=JSON_BODY_LIMIT)

MIN_SERVER_PASSWORD = 6


def _capabilities() -> tuple[bool, bool]:
    """(limited, compat): no NET_ADMIN at all, or NET_ADMIN without a usable packet filter."""
    net_admin = hostprobe.has_net_admin()
    packet_filter = shutil.which("nft") is not None or shutil.which("iptables") is not None
    return not net_admin, net_admin and not packet_filter


def listen_in_use(node: Any, server: dict[str, Any]) -> str:
    """The hy2 listen the server runs on: a ``--hy2-listen`` flag beats the stored value (as in
    ``relay/hy2server.py``), so clients are pointed at the port that really answers."""
    flag = getattr(getattr(node, "options", None), "hy2_listen", None)
    return str(flag or server.get("listen") or "")


async def node_info(node: Any) -> NodeInfo:
    sections = node.store.sections
    me, server = sections.get("node"), sections.get("server")
    limited, compat = _capabilities()
    active = await live_call(node, "active_paths", {})
    return NodeInfo(
        node_id=me["node_id"],
        name=me["name"] or me["node_id"],
        exit_node=bool(me["exit_node"]),
        hy2_user_auth=bool(me["hy2_user_auth"]),
        compat=compat,
        limited=limited,
        server=None
        if not server.get("enabled", True)
        else {
            **{k: str(server.get(k) or "") for k in ("listen", "password", "tls_cert", "tls_key")},
            "listen": listen_in_use(node, server),
            "listen_configured": str(server.get("listen") or ""),
        },
        version=RELAY_PROTOCOL_VERSION,
        active_paths=dict(active or {}),
    )


@router.get("/node", response_model=NodeInfo)
async def get_node_info(request: Request) -> NodeInfo:
    return await node_info(get_node(request))


@router.put("/node", response_model=Ok)
async def update_node(body: NodeUpdate, request: Request) -> Ok:
    node = get_node(request)
    store = node.store
    fields = body.model_fields_set
    me = store.sections.get("node")
    changes: dict[str, Any] = {}
    if "node_id" in fields and body.node_id:
        # The original renames the node with its id unless a name comes too (EditSelfModal sends both).
        changes["node_id"] = changes["name"] = body.node_id
    if "name" in fields and body.name:
        changes["name"] = body.name
    for key in ("exit_node", "hy2_user_auth"):
        if key in fields and getattr(body, key) is not None:
            changes[key] = getattr(body, key)
    server_changed = "server" in fields and body.server is not None
    with store.transaction():
        if server_changed:
            store.sections.put("server", _server_section(body, store))
        if changes:
            store.sections.put("node", {**me, **changes})
    if changes:
        await node.bus.publish("node")
    if server_changed:
        await node.bus.publish("server")
    log.info("event=node_updated fields=%s", ",".join(sorted(fields)) or "-")
    return Ok()


def _server_section(body: NodeUpdate, store: Any) -> dict[str, Any]:
    server = body.server
    assert server is not None
    current = store.sections.get("server")
    if not server.listen and not server.password:
        return {**current, "enabled": False}
    if not valid_addr_spec(server.listen, allow_empty_host=True):
        raise ApiError(400, f"invalid address format {server.listen!r}")
    if len(server.password) < MIN_SERVER_PASSWORD:
        raise ApiError(400, f"server password must be at least {MIN_SERVER_PASSWORD} characters")
    for user in store.users.list():
        if server.password in (user.get("password"), *(user.get("proxy_passwords") or {}).values()):
            raise ApiError(
                409,
                f"server password collides with user {user['username']!r} — pick a different password",
            )
    return {**current, "enabled": True, **server.model_dump()}


@router.get("/node/share-url", response_model=ShareUrl)
async def share_url(
    request: Request,
    host: str = Query(
        default="", max_length=253, description="public host name; default: the request's host"
    ),
    sni: str = Query(default="", max_length=253),
    insecure: bool = Query(default=False, description="tell clients to skip certificate verification"),
) -> ShareUrl:
    """A ``hysteria2://`` link that lets an official client (or another node) connect to this node."""
    node = get_node(request)
    server = node.store.sections.get("server")
    listen = listen_in_use(node, server)
    if not server.get("enabled", True) or not listen:
        raise ApiError(409, "the hy2 server is disabled")
    _, ports = split_host_ports(listen)
    public_host = host or request.url.hostname or ""
    if not public_host or any(c in public_host for c in "/@?#[] "):
        raise ApiError(400, "invalid host")
    me = node.store.sections.get("node")
    link = ShareLink(
        host=public_host,
        ports=ports,
        auth=server["password"],
        sni=sni,
        insecure=insecure,
        name=me["name"] or me["node_id"],
    )
    return ShareUrl(url=build_uri(link))


@router.get("/stats", response_model=Stats)
async def stats(request: Request) -> Stats:
    data = await live_call(get_node(request), "stats", None)
    return Stats.model_validate(data) if data else Stats()


@router.get("/topology", response_model=list[TopologyNode], response_model_exclude_none=True)
async def topology(request: Request) -> list[Any]:
    node = get_node(request)
    live = await live_call(node, "topology", None)
    if live is not None:
        return live
    return stored_topology(node)


def stored_topology(node: Any) -> list[dict[str, Any]]:
    """What the store knows when no relay runs: self, then every configured client, all offline."""
    store = node.store
    me, server = store.sections.get("node"), store.sections.get("server")
    flags = {f["path"]: f for f in store.peer_flags.list()}
    enabled = server.get("enabled", True) and bool(server.get("listen"))
    result: list[dict[str, Any]] = [
        {
            "name": me["node_id"],
            "addr": server.get("listen") if enabled else None,
            "exit_node": bool(me["exit_node"]),
            "direction": "local",
            "connected": True,
            "disabled": not enabled,
            "nested": False,
            "latency_ms": 0,
            "tx_rate": 0,
            "rx_rate": 0,
            "is_self": True,
        }
    ]
    for client in sorted(store.clients.list(), key=lambda c: c["name"]):
        addrs = client.get("addrs") or []
        max_rate = max(int(client.get("max_tx") or 0), int(client.get("max_rx") or 0))
        result.append(
            {
                "name": client["name"],
                "addr": client["addr"],
                "addrs": addrs if len(addrs) > 1 else None,
                "exit_node": False,
                "direction": "outbound",
                "connected": False,
                "disabled": bool(client.get("disabled")),
                "nested": bool(flags.get(client["name"], {}).get("nested")),
                "latency_ms": -1,
                "tx_rate": 0,
                "rx_rate": 0,
                "max_rate": max_rate or None,
            }
        )
    return result
