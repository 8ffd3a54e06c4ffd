"""Persisted state: SQLite through SQLAlchemy 2, migrated by Alembic at open (docs/internals.md)."""

from .defaults import SECTION_NAMES, section_default
from .errors import Conflict, NotFound, StoreError
from .store import Store

__all__ = ["SECTION_NAMES", "Conflict", "NotFound", "Store", "StoreError", "section_default"]
