"""Routing rules: CRUD, toggle, and the global TUN mode (``/rules/tun-mode``)."""

from __future__ import annotations

import ipaddress
import logging
import re
from typing import Any

from fastapi import APIRouter, Request

from hy2scale import hostprobe
from hy2scale.api.deps import JSON_BODY_LIMIT, ApiError, get_node
from hy2scale.api.schemas.common import EnabledBody, Ok
from hy2scale.api.schemas.rules import Rule, RuleCreate, RuleList, RuleUpdate, TunMode
from hy2scale.api.validation import sync_exit

log = logging.getLogger("hy2scale.api.rules")

router = APIRouter(tags=["rules"], max_body_size=JSON_BODY_LIMIT)

# "tun-mode" is a route of its own, so it cannot be a rule id.
RESERVED_IDS = {"tun-mode"}
_DOMAIN = re.compile(
    r"^(\*\.|\.)?(?=.{1,253}$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.)*[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$"
)
_FIELDS = (
    "id",
    "name",
    "type",
    "targets",
    "exit_via",
    "exit_paths",
    "exit_mode",
    "enabled",
    "priority",
    "use_tun",
)


def _valid_target(kind: str, target: str) -> bool:
    if kind == "domain":
        return bool(_DOMAIN.match(target))
    try:
        if "-" in target:
            lo, hi = (ipaddress.ip_address(p.strip()) for p in target.split("-", 1))
            return lo.version == hi.version and lo <= hi
        ipaddress.ip_network(target, strict=False)
        return True
    except ValueError:
        return False


def _validate(rule: dict[str, Any]) -> dict[str, Any]:
    rule["targets"] = [t.strip() for t in rule["targets"]]
    for target in rule["targets"]:
        if not _valid_target(rule["type"], target):
            raise ApiError(400, f"invalid target {target!r}")
    sync_exit(rule)
    if not rule["exit_via"]:
        raise ApiError(400, "id, exit_via, and targets required")
    return {k: rule[k] for k in _FIELDS}


def _get(store: Any, rule_id: str) -> dict[str, Any]:
    rule = store.rules.get(rule_id)
    if rule is None:
        raise ApiError(404, f"rule {rule_id!r} not found")
    return rule


def _tun_active(node: Any, rule: dict[str, Any]) -> bool:
    """Asks the rules engine when one runs; without it nothing is active."""
    engine = getattr(node, "rules", None)
    check = getattr(engine, "tun_active", None)
    return bool(check(rule)) if check is not None else False


@router.get("/rules", response_model=RuleList)
async def list_rules(request: Request) -> RuleList:
    node = get_node(request)
    rules = [{**r, "tun_active": _tun_active(node, r)} for r in node.store.rules.list()]
    return RuleList.model_validate({"available": hostprobe.has_net_admin(), "rules": rules})


@router.get("/rules/tun-mode", response_model=TunMode)
async def get_tun_mode(request: Request) -> TunMode:
    return TunMode.model_validate(get_node(request).store.sections.get("tun_mode"))


@router.put("/rules/tun-mode", response_model=Ok)
async def set_tun_mode(body: TunMode, request: Request) -> Ok:
    node = get_node(request)
    with node.store.transaction():
        node.store.sections.put("tun_mode", body.model_dump())
    await node.bus.publish("tun_mode")
    log.info("event=tun_mode_set enabled=%s mode=%s", body.enabled, body.mode)
    return Ok()


@router.get("/rules/{rule_id}", response_model=Rule)
async def get_rule(rule_id: str, request: Request) -> dict[str, Any]:
    node = get_node(request)
    rule = _get(node.store, rule_id)
    return {**rule, "tun_active": _tun_active(node, rule)}


@router.post("/rules", response_model=Rule)
async def create_rule(body: RuleCreate, request: Request) -> dict[str, Any]:
    node = get_node(request)
    if body.id in RESERVED_IDS:
        raise ApiError(400, f"rule id {body.id!r} is reserved")
    rule = _validate(body.model_dump())
    with node.store.transaction():
        if node.store.rules.get(rule["id"]) is not None:
            raise ApiError(409, f"rule {rule['id']!r} already exists")
        created = node.store.rules.create(rule)
    await node.bus.publish("rules")
    log.info("event=rule_created id=%s", rule["id"])
    return created


@router.put("/rules/{rule_id}", response_model=Rule)
async def update_rule(rule_id: str, body: RuleUpdate, request: Request) -> dict[str, Any]:
    node = get_node(request)
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    with node.store.transaction():
        merged = {**_get(node.store, rule_id), **changes}
        if "exit_via" in changes and "exit_paths" not in changes:
            merged["exit_paths"] = []  # a new exit_via alone replaces the old paths
        updated = node.store.rules.update(rule_id, _validate(merged))
    await node.bus.publish("rules")
    log.info("event=rule_updated id=%s", rule_id)
    return updated


@router.delete("/rules/{rule_id}", response_model=Ok)
async def delete_rule(rule_id: str, request: Request) -> Ok:
    node = get_node(request)
    with node.store.transaction():
        _get(node.store, rule_id)
        node.store.rules.delete(rule_id)
    await node.bus.publish("rules")
    log.info("event=rule_deleted id=%s", rule_id)
    return Ok()


@router.put("/rules/{rule_id}/toggle", response_model=Ok)
async def toggle_rule(rule_id: str, body: EnabledBody, request: Request) -> Ok:
    node = get_node(request)
    with node.store.transaction():
        _get(node.store, rule_id)
        node.store.rules.update(rule_id, {"enabled": body.enabled})
    await node.bus.publish("rules")
    log.info("event=rule_toggled id=%s enabled=%s", rule_id, body.enabled)
    return Ok()
