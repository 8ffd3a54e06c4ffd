"""Users: CRUD, toggle, traffic reset, password conflicts, bulk operations."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response

from hy2scale.accounts.index import UserIndex
from hy2scale.accounts.users import PASSWORD_ONLY
from hy2scale.accounts.users import User as AccountUser
from hy2scale.api.deps import JSON_BODY_LIMIT, ApiError, get_node
from hy2scale.api.schemas.common import EnabledBody, Ok
from hy2scale.api.schemas.users import (
    GIB,
    BulkAction,
    BulkResult,
    Conflicts,
    User,
    UserCreate,
    UserUpdate,
)
from hy2scale.api.validation import sync_exit

log = logging.getLogger("hy2scale.api.users")

router = APIRouter(tags=["users"], max_body_size=JSON_BODY_LIMIT)

# Stored fields; traffic_limit_gb and expiry are views computed from traffic_limit and expiry_date.
_STORED = (
    "id",
    "username",
    "password",
    "proxy_passwords",
    "proxy_disabled",
    "exit_via",
    "exit_paths",
    "exit_mode",
    "traffic_limit",
    "expiry_date",
    "enabled",
)


def view(user: dict[str, Any], traffic_used: int | None = None) -> dict[str, Any]:
    limit = int(user.get("traffic_limit") or 0)
    expiry_date = str(user.get("expiry_date") or "")
    return {
        "id": user["id"],
        "username": user["username"],
        "password": user.get("password", ""),
        "proxy_passwords": user.get("proxy_passwords") or {},
        "proxy_disabled": user.get("proxy_disabled") or [],
        "exit_via": user.get("exit_via", ""),
        "exit_paths": user.get("exit_paths") or [],
        "exit_mode": user.get("exit_mode", ""),
        "traffic_limit": limit,
        "traffic_limit_gb": limit / GIB,
        "traffic_used": int(user.get("traffic_used") or 0) if traffic_used is None else traffic_used,
        "expiry_date": expiry_date,
        "expiry": f"{expiry_date}T00:00:00Z" if expiry_date else "",
        "enabled": bool(user.get("enabled")),
    }


def _fold_aliases(data: dict[str, Any], fields: set[str]) -> None:
    """Seed aliases → stored fields; the original's field wins when both are sent."""
    gb = data.pop("traffic_limit_gb", None)
    if data.get("traffic_limit") is None and "traffic_limit_gb" in fields and gb is not None:
        data["traffic_limit"] = int(gb * GIB)
    expiry = data.pop("expiry", None)
    if data.get("expiry_date") is None and "expiry" in fields and expiry is not None:
        data["expiry_date"] = expiry[:10]
    for key in ("traffic_limit", "expiry_date"):
        if data.get(key) is None:
            data.pop(key, None)


def _effective(user: dict[str, Any]) -> dict[str, str]:
    overrides = user.get("proxy_passwords") or {}
    return {proxy: overrides.get(proxy) or user.get("password", "") for proxy in PASSWORD_ONLY}


def _check_unique(
    store: Any, user: dict[str, Any], others: Iterable[dict[str, Any]], passwords: bool = True
) -> None:
    """Usernames are unique; a password that identifies a user alone (hy2, ss) must be unique too."""
    server_password = store.sections.get("server").get("password")
    mine = _effective(user)
    if passwords and server_password and server_password in (user.get("password"), *mine.values()):
        raise ApiError(409, "user password collides with the hy2 server password — pick a different password")
    for other in others:
        if other["id"] == user["id"]:
            continue
        if other["username"] == user["username"]:
            raise ApiError(409, f"user {user['username']!r} already exists")
        if not passwords:
            continue
        theirs = _effective(other)
        for proxy, password in mine.items():
            if password and theirs[proxy] == password:
                raise ApiError(409, f"{proxy} password already used by user {other['username']!r}")


def _live_traffic(node: Any, user_id: str, stored: int) -> int:
    accounts = getattr(node, "accounts", None)
    return accounts.traffic_used(user_id) if accounts is not None else stored


def _get(store: Any, user_id: str) -> dict[str, Any]:
    user = store.users.get(user_id)
    if user is None:
        raise ApiError(404, f"user {user_id!r} not found")
    return user


class UsersCache:
    """The user list, pre-encoded, reloaded after a "users" or "restore" change.

    Reading and encoding 10,000 rows dominates GET /users, and the rows only change through the API
    (which publishes "users") or a restore. ``traffic_used`` changes all the time, so each user is kept
    as its JSON object minus that last key, and the live figure is spliced in per request.
    """

    def __init__(self, store: Any) -> None:
        self._store = store
        self._encoded: list[tuple[str, int, bytes]] | None = None

    def encoded(self) -> list[tuple[str, int, bytes]]:
        """``(id, stored traffic_used, b'{...,"traffic_used":')`` per user, in store order."""
        if self._encoded is None:
            rows = []
            for user in self._store.users.list():
                shaped = view(user)
                stored = shaped.pop("traffic_used")
                head = json.dumps(shaped, ensure_ascii=False, separators=(",", ":"))[:-1]
                rows.append((shaped["id"], stored, (head + ',"traffic_used":').encode()))
            self._encoded = rows
        return self._encoded

    def invalidate(self, _topic: str = "") -> None:
        self._encoded = None


def install(app: FastAPI) -> None:
    node = app.state.node
    cache = UsersCache(node.store)
    app.state.users_cache = cache
    for topic in ("users", "restore"):
        node.bus.subscribe(topic, cache.invalidate)


@router.get("/users", response_model=list[User])
async def list_users(request: Request) -> Response:
    node = get_node(request)
    accounts = getattr(node, "accounts", None)
    rows = request.app.state.users_cache.encoded()
    live = accounts.traffic_used if accounts is not None else None
    items = (head + str(live(uid) if live else stored).encode() + b"}" for uid, stored, head in rows)
    return Response(content=b"[" + b",".join(items) + b"]", media_type="application/json")


@router.get("/users/conflicts", response_model=Conflicts)
async def conflicts(request: Request) -> Conflicts:
    """``{username: {proxy: [other usernames]}}``: enabled users sharing a password on hy2/ss."""
    users = get_node(request).store.users.list()
    return UserIndex(AccountUser.from_dict(u) for u in users).conflicts()


@router.get("/users/{user_id}", response_model=User)
async def get_user(user_id: str, request: Request) -> dict[str, Any]:
    node = get_node(request)
    user = _get(node.store, user_id)
    return view(user, _live_traffic(node, user_id, user["traffic_used"]))


@router.post("/users", response_model=User)
async def create_user(body: UserCreate, request: Request) -> dict[str, Any]:
    node = get_node(request)
    store = node.store
    data = body.model_dump()
    _fold_aliases(data, body.model_fields_set)
    data = sync_exit(data)
    data["id"] = data.get("id") or secrets.token_hex(4)
    data.setdefault("traffic_limit", 0)
    data.setdefault("expiry_date", "")
    entity = {k: data[k] for k in _STORED} | {"traffic_used": 0}
    with store.transaction():
        if store.users.get(entity["id"]) is not None:
            raise ApiError(409, f"user id {entity['id']!r} already exists")
        _check_unique(store, entity, store.users.list())
        created = store.users.create(entity)
    await node.bus.publish("users")
    log.info("event=user_created id=%s", created["id"])
    return view(created)


@router.put("/users/{user_id}", response_model=User)
async def update_user(user_id: str, body: UserUpdate, request: Request) -> dict[str, Any]:
    node = get_node(request)
    store = node.store
    changes = body.model_dump(exclude_unset=True)
    _fold_aliases(changes, body.model_fields_set)
    changes = {k: v for k, v in changes.items() if v is not None}
    with store.transaction():
        current = _get(store, user_id)
        merged = {**current, **changes}
        if {"exit_via", "exit_paths", "exit_mode"} & changes.keys():
            if "exit_paths" not in changes and "exit_via" in changes:
                merged["exit_paths"] = []  # a new exit_via alone replaces the old paths
            sync_exit(merged)
        # Passwords are re-checked only when they change, so an old shared password does not block edits.
        passwords = bool({"password", "proxy_passwords"} & changes.keys())
        _check_unique(store, merged, store.users.list(), passwords=passwords)
        updated = store.users.update(user_id, {k: merged[k] for k in _STORED if k in merged})
    await node.bus.publish("users")
    log.info("event=user_updated id=%s", user_id)
    return view(updated, _live_traffic(node, user_id, updated["traffic_used"]))


@router.delete("/users/{user_id}", response_model=Ok)
async def delete_user(user_id: str, request: Request) -> Ok:
    node = get_node(request)
    with node.store.transaction():
        _get(node.store, user_id)
        node.store.users.delete(user_id)
    await node.bus.publish("users")
    log.info("event=user_deleted id=%s", user_id)
    return Ok()


@router.put("/users/{user_id}/toggle", response_model=Ok)
async def toggle_user(user_id: str, body: EnabledBody, request: Request) -> Ok:
    node = get_node(request)
    with node.store.transaction():
        _get(node.store, user_id)
        node.store.users.update(user_id, {"enabled": body.enabled})
    await node.bus.publish("users")
    log.info("event=user_toggled id=%s enabled=%s", user_id, body.enabled)
    return Ok()


def _reset_traffic(node: Any, user_id: str) -> None:
    node.store.users.reset_traffic(user_id)
    accounts = getattr(node, "accounts", None)
    if accounts is not None:
        accounts.reset_traffic(user_id)


@router.put("/users/{user_id}/reset-traffic", response_model=Ok)
async def reset_traffic(user_id: str, request: Request) -> Ok:
    node = get_node(request)
    with node.store.transaction():
        _get(node.store, user_id)
        _reset_traffic(node, user_id)
    await node.bus.publish("users")
    log.info("event=user_traffic_reset id=%s", user_id)
    return Ok()


@router.post("/users/bulk", response_model=BulkResult)
async def bulk(body: BulkAction, request: Request) -> BulkResult:
    """One action on many users in one transaction: all ids must exist, or nothing changes (404)."""
    node = get_node(request)
    store = node.store
    ids = list(dict.fromkeys(body.ids))
    exit_fields = (
        sync_exit({"exit_via": body.exit_via, "exit_paths": body.exit_paths, "exit_mode": body.exit_mode})
        if body.action == "set-exit"
        else {}
    )
    with store.transaction():
        known = {u["id"] for u in store.users.list()}
        missing = [i for i in ids if i not in known]
        if missing:
            raise ApiError(404, f"user {missing[0]!r} not found")
        for user_id in ids:
            if body.action in ("enable", "disable"):
                store.users.update(user_id, {"enabled": body.action == "enable"})
            elif body.action == "delete":
                store.users.delete(user_id)
            elif body.action == "reset-traffic":
                _reset_traffic(node, user_id)
            else:
                store.users.update(user_id, exit_fields)
    await node.bus.publish("users")
    log.info("event=users_bulk action=%s count=%d", body.action, len(ids))
    return BulkResult(count=len(ids))
