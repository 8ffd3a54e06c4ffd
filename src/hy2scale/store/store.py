"""``Store``: the one entry point to persisted state (docs/internals.md, "Store")."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from . import models
from .db import Database
from .repos import Admin, ApiSessions, Collection, Sections, Users

log = logging.getLogger("hy2scale.store")


class Store:
    def __init__(self, db: Database) -> None:
        self._db = db
        self.path = db.path
        self.sections = Sections(db)
        self.clients = Collection(db, models.clients, "name", {"addr": ""})
        self.users = Users(db)
        self.proxies = Collection(db, models.proxies, "id")
        self.wg_peers = Collection(db, models.wg_peers, "name", {"public_key": ""})
        self.rules = Collection(db, models.rules, "id")
        self.peer_flags = Collection(db, models.peer_flags, "path")
        self.api_sessions = ApiSessions(db)
        self.api_tokens = Collection(db, models.api_tokens, "id", {"token_hash": None})
        self.admin = Admin(db)

    @classmethod
    def open(cls, data_dir: str | Path) -> Store:
        """Open (creating and migrating) ``<data_dir>/hy2scale.db``; raises ``StoreError``."""
        db = Database(Path(data_dir))
        log.debug("event=store_opened path=%s", db.path)
        return cls(db)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group repository calls into one commit (all or nothing)."""
        with self._db.transaction():
            yield

    def collections(self) -> dict[str, Collection]:
        return {
            "clients": self.clients,
            "users": self.users,
            "proxies": self.proxies,
            "wg_peers": self.wg_peers,
            "rules": self.rules,
            "peer_flags": self.peer_flags,
            "api_sessions": self.api_sessions,
            "api_tokens": self.api_tokens,
        }

    def close(self) -> None:
        self._db.close()
