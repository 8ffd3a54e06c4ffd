"""Logging: one line per event, ``key=value`` context after the message (never secrets)."""

from __future__ import annotations

import logging
import sys

LEVELS = ("debug", "info", "warning", "error")
FORMAT = "%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"

# Libraries that narrate routine work at INFO; their warnings still come through.
_QUIET = ("alembic", "uvicorn", "uvicorn.error", "uvicorn.access", "aioquic", "quic")


class OneLineFormatter(logging.Formatter):
    """Tracebacks and multi-line messages stay on one line (newlines escaped) so every event is one line."""

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).replace("\n", "\\n")


def setup_logging(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(OneLineFormatter(FORMAT, datefmt="%Y-%m-%dT%H:%M:%S%z"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in _QUIET:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
