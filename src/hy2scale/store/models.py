"""The current schema as SQLAlchemy Core tables.

Collections keep the fields used for keys and lookups in typed columns and the whole entity (in the API's
JSON shape) in ``data``; ``seq`` keeps insertion order so lists come back in the order they were created.
Migrations under ``migrations/versions`` are frozen copies of this schema at each revision; a unit test
checks that head matches these tables.
"""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Float, Integer, MetaData, String, Table

metadata = MetaData()


def _seq() -> Column:
    return Column("seq", Integer, primary_key=True, autoincrement=True)


def _data() -> Column:
    return Column("data", JSON, nullable=False)


sections = Table(
    "sections",
    metadata,
    Column("name", String, primary_key=True),
    _data(),
)

clients = Table(
    "clients",
    metadata,
    _seq(),
    Column("name", String, nullable=False, unique=True),
    Column("addr", String, nullable=False, index=True),
    _data(),
)

peer_flags = Table(
    "peer_flags",
    metadata,
    _seq(),
    Column("path", String, nullable=False, unique=True),
    _data(),
)

users = Table(
    "users",
    metadata,
    _seq(),
    Column("id", String, nullable=False, unique=True),
    Column("username", String, nullable=False, unique=True),
    Column("traffic_used", Integer, nullable=False, default=0),
    _data(),
)

proxies = Table(
    "proxies",
    metadata,
    _seq(),
    Column("id", String, nullable=False, unique=True),
    _data(),
)

wg_peers = Table(
    "wg_peers",
    metadata,
    _seq(),
    Column("name", String, nullable=False, unique=True),
    Column("public_key", String, nullable=False, index=True),
    _data(),
)

rules = Table(
    "rules",
    metadata,
    _seq(),
    Column("id", String, nullable=False, unique=True),
    _data(),
)

api_sessions = Table(
    "api_sessions",
    metadata,
    _seq(),
    Column("token_hash", String, nullable=False, unique=True),
    Column("expires_at", Float, nullable=False, index=True),
    _data(),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    _seq(),
    Column("id", String, nullable=False, unique=True),
    Column("token_hash", String, nullable=False, unique=True),
    _data(),
)

admin = Table(
    "admin",
    metadata,
    Column("singleton", Integer, primary_key=True, autoincrement=False),
    Column("username", String, nullable=False),
    Column("password_hash", String, nullable=False),
    Column("force_password_change", Boolean, nullable=False),
)
