"""The SQLite file: safe opening (never touching a foreign or corrupt file), pragmas, migrations, transactions."""

from __future__ import annotations

import contextvars
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, IntegrityError

from .errors import Conflict, StoreError

log = logging.getLogger("hy2scale.store")

DB_NAME = "hy2scale.db"
SQLITE_MAGIC = b"SQLite format 3\x00"
MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def known_revisions() -> set[str]:
    return {script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()}


def check_existing(path: Path) -> None:
    """Refuse a file that is not ours before anything writes to it (no pragmas, no migrations)."""
    try:
        with path.open("rb") as f:
            header = f.read(len(SQLITE_MAGIC))
    except OSError as e:
        raise StoreError(f"cannot read {path}: {e.strerror}") from e
    if not header:
        return
    if header != SQLITE_MAGIC:
        raise StoreError(f"{path} is not a SQLite database")
    try:
        conn = sqlite3.connect(path)
        try:
            check = conn.execute("PRAGMA quick_check").fetchone()[0]
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            revision = None
            if "alembic_version" in tables:
                row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
                revision = row[0] if row else None
        finally:
            conn.close()
    except sqlite3.DatabaseError as e:
        raise StoreError(f"{path} is corrupt: {e}") from e
    if check != "ok":
        raise StoreError(f"{path} is corrupt: {check}")
    if tables and "alembic_version" not in tables:
        raise StoreError(f"{path} is a SQLite database of another program")
    if revision is not None and revision not in known_revisions():
        raise StoreError(f"{path} was written by a newer hy2scale (schema revision {revision})")


class Database:
    """One engine per file; writes are serialised by a lock and grouped by ``transaction()``."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / DB_NAME
        self._write_lock = threading.RLock()
        # The connection of the transaction open in this thread / asyncio task, joined by nested calls.
        self._current: contextvars.ContextVar[Connection | None] = contextvars.ContextVar(
            f"hy2scale_store_{id(self)}", default=None
        )
        if not data_dir.is_dir():
            raise StoreError(f"data directory {data_dir} does not exist")
        if self.path.exists():
            check_existing(self.path)
            self.path.chmod(0o600)
        else:
            try:
                os.close(os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            except OSError as e:
                raise StoreError(f"cannot create {self.path}: {e.strerror}") from e
        self.engine = self._make_engine()
        try:
            self._migrate()
        except BaseException:
            self.engine.dispose()
            raise

    def _make_engine(self) -> Engine:
        engine = create_engine(
            f"sqlite:///{self.path}",
            connect_args={"check_same_thread": False, "timeout": 30},
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
            # We emit BEGIN ourselves (below) so SQLite's own transaction handling stays out of the way.
            dbapi_conn.isolation_level = None
            for pragma in (
                "PRAGMA journal_mode=WAL",
                "PRAGMA synchronous=FULL",
                "PRAGMA foreign_keys=ON",
                "PRAGMA busy_timeout=30000",
            ):
                dbapi_conn.execute(pragma)

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            # IMMEDIATE takes the write lock up front, so two writers never deadlock on upgrade.
            conn.exec_driver_sql(conn.info.pop("begin", "BEGIN"))

        return engine

    def _migrate(self) -> None:
        cfg = alembic_config()
        with self.transaction() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One write transaction; calls made inside it (same thread or task) join it."""
        current = self._current.get()
        if current is not None:
            with _translated(), current.begin_nested():
                yield current
            return
        with self._write_lock, _translated(), self.engine.connect() as conn:
            conn.info["begin"] = "BEGIN IMMEDIATE"
            token = self._current.set(conn)
            try:
                with conn.begin():
                    yield conn
            finally:
                self._current.reset(token)

    @contextmanager
    def reader(self) -> Iterator[Connection]:
        """A consistent snapshot for reads (the open transaction's connection when there is one)."""
        current = self._current.get()
        if current is not None:
            yield current
            return
        with _translated(), self.engine.connect() as conn, conn.begin():
            yield conn

    def close(self) -> None:
        self.engine.dispose()


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except IntegrityError as e:
        raise Conflict(str(e.orig)) from e
    except DBAPIError as e:
        raise StoreError(str(e.orig)) from e
