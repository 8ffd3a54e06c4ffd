"""Shapes shared by several resources."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

# Node and peer names (DESIGN §4.6): no "/" (path separator) and no "_" (relay magic addresses).
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$"
NodeName = Annotated[str, Field(pattern=NAME_PATTERN)]


class Ok(BaseModel):
    status: Literal["ok"] = "ok"


class Body(BaseModel):
    """Request bodies ignore unknown keys, like the original's JSON decoder."""

    model_config = ConfigDict(extra="ignore")


class EnabledBody(Body):
    enabled: bool


class DisabledBody(Body):
    disabled: bool
