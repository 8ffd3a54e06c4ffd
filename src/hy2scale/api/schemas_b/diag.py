"""Models of the read-only diagnostics (api.md §3.9)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ResolveResult(BaseModel):
    name: str
    exit_via: str
    ips: list[str]
    source: str = Field(
        description="'exit' (DNS over TCP through the exit) or 'local' (this host's resolver)"
    )
    error: str | None = Field(None, description="why the lookup (or the exit part of it) failed")


class PeerHealth(BaseModel):
    name: str
    direction: str
    ping_ok: int
    ping_fail: int
    fail_count: int = Field(description="consecutive failures")
    tx_bytes: int
    rx_bytes: int


class PeerRebinds(BaseModel):
    name: str
    direction: str
    rebind_checks: int | None = Field(description="None: the relay does not count rebinds")


class LatencySample(BaseModel):
    at: str | None = Field(description="RFC 3339 time of the sample, when the relay records it")
    ms: int


class PeerLatency(BaseModel):
    name: str
    direction: str
    latency_ms: int = Field(description="-1 unknown")
    history: list[LatencySample]


class PeerHealthList(BaseModel):
    peers: list[PeerHealth]


class PeerRebindsList(BaseModel):
    peers: list[PeerRebinds]


class PeerLatencyList(BaseModel):
    peers: list[PeerLatency]
