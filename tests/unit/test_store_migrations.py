"""Migrations: empty file -> first revision -> head, head matches the models, unknown revisions refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

from hy2scale.store import Store, StoreError
from hy2scale.store.db import alembic_config
from hy2scale.store.models import metadata


def _revisions() -> list[str]:
    script = ScriptDirectory.from_config(alembic_config())
    return [s.revision for s in reversed(list(script.walk_revisions()))]


def _upgrade(db: Path, target: str) -> None:
    engine = create_engine(f"sqlite:///{db}")
    try:
        with engine.begin() as conn:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, target)
    finally:
        engine.dispose()


def test_empty_to_first_to_head_matches_models(tmp_path: Path) -> None:
    db = tmp_path / "hy2scale.db"
    revisions = _revisions()
    _upgrade(db, revisions[0])
    for revision in revisions[1:]:
        _upgrade(db, revision)
    engine = create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn)
            assert context.get_current_revision() == revisions[-1]
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()
    # The store accepts the migrated file as its own.
    store = Store.open(tmp_path)
    store.users.create({"id": "u", "username": "u", "password": "p"})
    store.close()


def test_store_open_migrates_to_head(tmp_path: Path) -> None:
    Store.open(tmp_path).close()
    conn = sqlite3.connect(tmp_path / "hy2scale.db")
    try:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == _revisions()[-1]
    finally:
        conn.close()


def test_downgrade_to_base_drops_everything(tmp_path: Path) -> None:
    db = tmp_path / "hy2scale.db"
    _upgrade(db, "head")
    engine = create_engine(f"sqlite:///{db}")
    try:
        with engine.begin() as conn:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "base")
    finally:
        engine.dispose()
    conn = sqlite3.connect(db)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        conn.close()
    assert tables == {"alembic_version"}


def test_db_from_a_newer_release_is_refused(tmp_path: Path) -> None:
    Store.open(tmp_path).close()
    db = tmp_path / "hy2scale.db"
    conn = sqlite3.connect(db)
    conn.execute("UPDATE alembic_version SET version_num = 'ffff'")
    conn.commit()
    conn.close()
    before = db.read_bytes()
    with pytest.raises(StoreError, match="newer hy2scale"):
        Store.open(tmp_path)
    assert db.read_bytes() == before
