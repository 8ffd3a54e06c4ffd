"""Node coordinates of the Nodes-page graph, shared by every session."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

MAX_NODES = 10_000

LayoutKey = Annotated[str, StringConstraints(min_length=1, max_length=512)]


class Position(BaseModel):
    model_config = ConfigDict(extra="ignore")

    x: float = Field(allow_inf_nan=False)
    y: float = Field(allow_inf_nan=False)


Layout = Annotated[dict[LayoutKey, Position], Field(max_length=MAX_NODES)]


class WrappedLayout(BaseModel):
    """The original's request shape ``{"positions": {...}}``."""

    model_config = ConfigDict(extra="forbid")

    positions: Layout
