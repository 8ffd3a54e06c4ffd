"""Repositories: plain dicts in, plain dicts (the API's JSON shape) out."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Table, bindparam, delete, func, insert, select, update

from . import models
from .db import Database
from .defaults import SECTION_NAMES, section_default
from .errors import NotFound, StoreError


class Sections:
    """Singleton JSON sections; ``get`` fills in defaults, ``put`` replaces the stored dict."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._t = models.sections

    def get(self, name: str) -> dict[str, Any]:
        _check_section(name)
        with self._db.reader() as conn:
            stored = conn.execute(select(self._t.c.data).where(self._t.c.name == name)).scalar_one_or_none()
        merged = section_default(name)
        merged.update(stored or {})
        return merged

    def put(self, name: str, data: Mapping[str, Any]) -> dict[str, Any]:
        _check_section(name)
        value = copy.deepcopy(dict(data))
        with self._db.transaction() as conn:
            done = conn.execute(update(self._t).where(self._t.c.name == name).values(data=value)).rowcount
            if not done:
                conn.execute(insert(self._t).values(name=name, data=value))
        return self.get(name)

    def stored(self, name: str) -> dict[str, Any] | None:
        """The dict as written, without defaults (None when never written): used by export."""
        _check_section(name)
        with self._db.reader() as conn:
            return conn.execute(select(self._t.c.data).where(self._t.c.name == name)).scalar_one_or_none()


def _check_section(name: str) -> None:
    if name not in SECTION_NAMES:
        raise StoreError(f"unknown section {name!r}")


class Collection:
    """Rows keyed by one entity field; ``columns`` are entity fields mirrored into typed columns."""

    def __init__(self, db: Database, table: Table, key: str, columns: Mapping[str, Any] = {}) -> None:
        self._db = db
        self._t = table
        self.key = key
        # typed column -> value used when the entity lacks the field
        self._columns = {key: None, **columns}
        self._list_sql = f"SELECT data, {', '.join(self._columns)} FROM {table.name} ORDER BY seq"

    def _row_values(self, entity: Mapping[str, Any]) -> dict[str, Any]:
        # Typed columns are the single source of their fields, so ``data`` holds only the rest.
        values: dict[str, Any] = {"data": {k: v for k, v in entity.items() if k not in self._columns}}
        for column, default in self._columns.items():
            value = entity.get(column, default)
            if value is None:
                raise StoreError(f"{self._t.name}: field {column!r} is required")
            values[column] = value
        return values

    def _entity(self, row: Any) -> dict[str, Any]:
        # Rows are (data, *typed columns) as selected by _select().
        entity = dict(row[0])
        entity.update(zip(self._columns, row[1:], strict=True))
        return entity

    def _select(self) -> Any:
        return select(self._t.c.data, *(self._t.c[c] for c in self._columns))

    def list(self) -> list[dict[str, Any]]:
        # The hot path (GET /api/users with thousands of rows): plain SQL and json.loads are about twice
        # as fast as SQLAlchemy's per-row type processing. Names come from our own schema, not input.
        with self._db.reader() as conn:
            rows = conn.exec_driver_sql(self._list_sql).fetchall()
        loads, columns = json.loads, tuple(self._columns)
        entities = []
        for data, *typed in rows:
            entity = loads(data)
            entity.update(zip(columns, typed, strict=True))
            entities.append(entity)
        return entities

    def get(self, key: str) -> dict[str, Any] | None:
        return self.find(self.key, key)

    def find(self, column: str, value: Any) -> dict[str, Any] | None:
        """First row whose typed ``column`` equals ``value``."""
        if column not in self._columns:
            raise StoreError(
                f"{self._t.name}: {column!r} is not a lookup column ({', '.join(self._columns)})"
            )
        with self._db.reader() as conn:
            row = conn.execute(
                self._select().where(self._t.c[column] == value).order_by(self._t.c.seq).limit(1)
            ).first()
        return self._entity(row) if row is not None else None

    def count(self) -> int:
        with self._db.reader() as conn:
            return conn.execute(select(func.count()).select_from(self._t)).scalar_one()

    def create(self, entity: Mapping[str, Any]) -> dict[str, Any]:
        values = self._row_values(copy.deepcopy(dict(entity)))
        with self._db.transaction() as conn:
            conn.execute(insert(self._t).values(**values))
        return self._entity_from_values(values)

    def update(self, key: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Merge ``changes`` into the stored entity (the key itself may change: a rename)."""
        with self._db.transaction() as conn:
            row = conn.execute(self._select().where(self._t.c[self.key] == key)).first()
            if row is None:
                raise NotFound(f"{self._t.name}: {key!r} not found")
            merged = self._entity(row)
            merged.update(copy.deepcopy(dict(changes)))
            values = self._row_values(merged)
            conn.execute(update(self._t).where(self._t.c[self.key] == key).values(**values))
        return self._entity_from_values(values)

    def delete(self, key: str) -> None:
        with self._db.transaction() as conn:
            if not conn.execute(delete(self._t).where(self._t.c[self.key] == key)).rowcount:
                raise NotFound(f"{self._t.name}: {key!r} not found")

    def replace_all(self, entities: list[Mapping[str, Any]]) -> None:
        """Drop every row and insert ``entities`` in order (import/restore)."""
        with self._db.transaction() as conn:
            conn.execute(delete(self._t))
            for entity in entities:
                conn.execute(insert(self._t).values(**self._row_values(copy.deepcopy(dict(entity)))))

    def _entity_from_values(self, values: dict[str, Any]) -> dict[str, Any]:
        entity = dict(values["data"])
        entity.update({c: values[c] for c in self._columns})
        return entity


class Users(Collection):
    """Users keep ``traffic_used`` in a column so accounting adds to it without rewriting the entity."""

    def __init__(self, db: Database) -> None:
        super().__init__(db, models.users, "id", {"username": None, "traffic_used": 0})

    def add_traffic(self, batch: Mapping[str, tuple[int, int]]) -> None:
        """Add ``tx + rx`` bytes per user id in one commit; ids deleted meanwhile are skipped."""
        params = [{"uid": uid, "n": int(tx) + int(rx)} for uid, (tx, rx) in batch.items() if tx or rx]
        if not params:
            return
        t = self._t
        with self._db.transaction() as conn:
            conn.execute(
                update(t)
                .where(t.c.id == bindparam("uid"))
                .values(traffic_used=t.c.traffic_used + bindparam("n")),
                params,
            )

    def reset_traffic(self, user_id: str) -> None:
        with self._db.transaction() as conn:
            if not conn.execute(
                update(self._t).where(self._t.c.id == user_id).values(traffic_used=0)
            ).rowcount:
                raise NotFound(f"users: {user_id!r} not found")


class ApiSessions(Collection):
    """Admin login sessions keyed by the token's hash; ``expires_at`` is a unix time."""

    def __init__(self, db: Database) -> None:
        super().__init__(db, models.api_sessions, "token_hash", {"expires_at": None})

    def delete_expired(self, now: float) -> int:
        with self._db.transaction() as conn:
            return conn.execute(delete(self._t).where(self._t.c.expires_at <= now)).rowcount

    def clear(self) -> int:
        with self._db.transaction() as conn:
            return conn.execute(delete(self._t)).rowcount


class Admin:
    """The single admin account: ``{username, password_hash, force_password_change}``."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._t = models.admin

    def get(self) -> dict[str, Any] | None:
        with self._db.reader() as conn:
            row = conn.execute(
                select(self._t.c.username, self._t.c.password_hash, self._t.c.force_password_change)
            ).first()
        if row is None:
            return None
        return {"username": row[0], "password_hash": row[1], "force_password_change": bool(row[2])}

    def put(self, username: str, password_hash: str, force_password_change: bool) -> dict[str, Any]:
        values = {
            "username": username,
            "password_hash": password_hash,
            "force_password_change": force_password_change,
        }
        with self._db.transaction() as conn:
            if not conn.execute(update(self._t).values(**values)).rowcount:
                conn.execute(insert(self._t).values(singleton=1, **values))
        return values

    def update(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        unknown = set(changes) - {"username", "password_hash", "force_password_change"}
        if unknown:
            raise StoreError(f"admin: unknown fields {sorted(unknown)}")
        with self._db.transaction():
            current = self.get()
            if current is None:
                raise NotFound("admin account not set")
            current.update(changes)
            return self.put(**current)
