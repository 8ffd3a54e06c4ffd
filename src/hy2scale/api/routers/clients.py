"""Outbound peers ("clients"): CRUD, disable, and import of a hysteria2:// share link."""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import APIRouter, Request

from hy2scale.api.deps import JSON_BODY_LIMIT, ApiError, get_node
from hy2scale.api.live import live_call
from hy2scale.api.schemas.clients import Client, ClientCreate, ClientImport, ClientUpdate, ClientView
from hy2scale.api.schemas.common import DisabledBody, Ok
from hy2scale.api.validation import NAME_RE, check_addr
from hy2scale.hysteria.errors import ParseError
from hy2scale.hysteria.uri import parse_uri

log = logging.getLogger("hy2scale.api.clients")

router = APIRouter(tags=["clients"], max_body_size=JSON_BODY_LIMIT)

# Share links carry rates in Mbps (up/down); ClientEntry keeps bytes/s (1 Mbps = 125000 B/s).
MBPS = 125_000


def _normalize(entry: dict[str, Any]) -> dict[str, Any]:
    """``addr`` is always ``addrs[0]``; every address must be a valid ``host:portspec``."""
    addrs = [a.strip() for a in entry.get("addrs") or [] if a.strip()]
    addr = entry["addr"].strip()
    if addrs:
        addr = addrs[0]
    elif addr:
        addrs = [addr]
    for a in addrs:
        check_addr(a)
    if len(set(addrs)) != len(addrs):
        raise ApiError(400, "duplicate address in addrs")
    entry["addr"], entry["addrs"] = addr, addrs
    return entry


def _find(store: Any, key: str) -> dict[str, Any] | None:
    """By name, else by primary address (the original's lookup)."""
    return store.clients.get(key) or store.clients.find("addr", key)


def _check_unique(store: Any, entry: dict[str, Any], old_name: str | None = None) -> None:
    for other in store.clients.list():
        if other["name"] == old_name:
            continue
        if other["name"] == entry["name"]:
            raise ApiError(409, f"client {entry['name']!r} already exists")
        if other["addr"] == entry["addr"]:
            raise ApiError(409, f"client with address {entry['addr']!r} already exists ({other['name']!r})")


async def _connected(node: Any) -> set[str]:
    peers = await live_call(node, "peers", None) or []
    return {p["name"] for p in peers if p.get("connected", True) and p.get("direction") != "inbound"}


@router.get("/clients", response_model=list[ClientView])
async def list_clients(request: Request) -> list[dict[str, Any]]:
    node = get_node(request)
    live = await _connected(node)
    return [
        {**c, "connected": c["name"] in live and not c.get("disabled")} for c in node.store.clients.list()
    ]


@router.get("/clients/{name}", response_model=Client)
async def get_client(name: str, request: Request) -> dict[str, Any]:
    client = _find(get_node(request).store, name)
    if client is None:
        raise ApiError(404, f"client {name!r} not found")
    return client


async def _create(node: Any, entry: dict[str, Any]) -> dict[str, Any]:
    store = node.store
    entry = _normalize(entry)
    with store.transaction():
        _check_unique(store, entry)
        created = store.clients.create(entry)
    await node.bus.publish("clients")
    log.info("event=client_created name=%s", entry["name"])
    return created


@router.post("/clients", response_model=Client)
async def create_client(body: ClientCreate, request: Request) -> dict[str, Any]:
    return await _create(get_node(request), body.model_dump())


@router.put("/clients/{name}", response_model=Client)
async def update_client(name: str, body: ClientUpdate, request: Request) -> dict[str, Any]:
    node = get_node(request)
    store = node.store
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    with store.transaction():
        current = _find(store, name)
        if current is None:
            raise ApiError(404, f"client {name!r} not found")
        if "addr" in changes and "addrs" not in changes:
            # A new primary address replaces the old one at the head of the list.
            changes["addrs"] = [
                changes["addr"],
                *(a for a in current.get("addrs", [])[1:] if a != changes["addr"]),
            ]
        merged = _normalize({**current, **changes})
        _check_unique(store, merged, old_name=current["name"])
        updated = store.clients.update(current["name"], merged)
    await node.bus.publish("clients")
    log.info("event=client_updated name=%s", updated["name"])
    return updated


@router.put("/clients/{name}/disable", response_model=Ok)
async def disable_client(name: str, body: DisabledBody, request: Request) -> Ok:
    node = get_node(request)
    store = node.store
    with store.transaction():
        current = _find(store, name)
        if current is None:
            raise ApiError(404, f"client {name!r} not found")
        store.clients.update(current["name"], {"disabled": body.disabled})
    await node.bus.publish("clients")
    log.info("event=client_disabled name=%s disabled=%s", current["name"], body.disabled)
    return Ok()


@router.delete("/clients/{name}", response_model=Ok)
async def delete_client(name: str, request: Request) -> Ok:
    node = get_node(request)
    store = node.store
    with store.transaction():
        current = _find(store, name)
        if current is None:
            raise ApiError(404, f"client {name!r} not found")
        store.clients.delete(current["name"])
    await node.bus.publish("clients")
    log.info("event=client_deleted name=%s", current["name"])
    return Ok()


def _name_from(text: str) -> str:
    """A valid node name from a link's fragment or host (invalid characters become '-')."""
    name = re.sub(r"[^A-Za-z0-9.-]", "-", text).strip("-.")[:63]
    return name if NAME_RE.match(name) else ""


@router.post("/clients/import", response_model=Client)
async def import_client(body: ClientImport, request: Request) -> dict[str, Any]:
    """Creates a client from a ``hysteria2://`` share link (name from the body, else the link)."""
    try:
        link = parse_uri(body.url)
    except ParseError as exc:
        raise ApiError(400, f"invalid share link: {exc}") from None
    if not link.auth:
        raise ApiError(400, "invalid share link: no password")
    name = body.name or _name_from(link.name) or _name_from(link.host)
    if not name:
        raise ApiError(400, "cannot derive a client name from the link; send 'name'")
    host = f"[{link.host}]" if ":" in link.host else link.host
    entry = Client(
        name=name,
        addr=f"{host}:{link.ports}",
        password=link.auth,
        sni=link.sni,
        insecure=link.insecure,
        max_tx=_mbps(link.extra.get("up")),
        max_rx=_mbps(link.extra.get("down")),
        fast_open=link.extra.get("fastopen", "") in ("1", "true"),
    ).model_dump()
    return await _create(get_node(request), entry)


def _mbps(value: str | None) -> int:
    try:
        return max(0, int(float(value or 0) * MBPS))
    except ValueError:
        return 0
