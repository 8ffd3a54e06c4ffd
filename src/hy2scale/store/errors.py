"""Errors raised by the store; the API maps them to HTTP statuses (404, 409, 500)."""


class StoreError(Exception):
    """Base class: the database cannot be opened, read or written."""


class NotFound(StoreError):
    """No row with that key."""


class Conflict(StoreError):
    """A row with that key (or another unique field) already exists."""
