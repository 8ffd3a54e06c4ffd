"""Connected client devices (one per username|ip|protocol)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Device(BaseModel):
    model_config = ConfigDict(extra="allow")

    key: str
    username: str
    remote_ip: str
    protocol: str
    connect_at: int
    duration: int
    conn_count: int
    tx_bytes: int
    rx_bytes: int


class SessionList(BaseModel):
    devices: list[Device]
    total: int
