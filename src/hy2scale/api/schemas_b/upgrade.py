"""Model of POST /api/upgrade's answer."""

from __future__ import annotations

from pydantic import BaseModel


class UpgradeResult(BaseModel):
    status: str = "ok"
    version: str
    message: str
