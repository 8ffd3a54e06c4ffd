"""Read-only diagnostics: name resolution through an exit, and the relay's per-peer health."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import secrets
import socket
from typing import Any

from fastapi import APIRouter, Depends, Query

from hy2scale import dnswire
from hy2scale.api.deps import ApiError, get_node
from hy2scale.api.schemas_b.diag import (
    LatencySample,
    PeerHealth,
    PeerHealthList,
    PeerLatency,
    PeerLatencyList,
    PeerRebinds,
    PeerRebindsList,
    ResolveResult,
)
from hy2scale.api.schemas_b.settings import DEFAULT_DNS

router = APIRouter(tags=["diagnostics"])

RESOLVE_TIMEOUT_S = 10.0
MAX_DNS_REPLY = 65535


def upstreams(dns: str) -> list[tuple[str, int]]:
    """``ui.dns`` entries as (host, port); port 53 implied."""
    out = []
    for entry in (e.strip() for e in (dns or DEFAULT_DNS).split(",")):
        if not entry:
            continue
        if entry.startswith("["):
            host, _, port = entry[1:].partition("]:")
        elif entry.count(":") == 1:
            host, port = entry.split(":")
        else:
            host, port = entry, "53"
        out.append((host, int(port or 53)))
    return out


async def resolve_local(name: str) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(name, None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def _query_over(stream: Any, name: str, qtype: int) -> list[str]:
    qid = secrets.randbits(16)
    stream.write(dnswire.frame_tcp(dnswire.build_query(name, qid, qtype)))
    await stream.drain()
    size = int.from_bytes(await stream.readexactly(2), "big")
    return dnswire.parse_response(await stream.readexactly(size), qid)


async def resolve_via_exit(exits: Any, name: str, exit_via: str, dns: str) -> list[str]:
    """DNS over TCP to the configured upstreams, dialed through ``exit_via`` (first upstream that answers)."""
    from hy2scale.relay.exits import ExitError, ExitRoute

    route = ExitRoute(exit_via=exit_via, exit_paths=(exit_via,))
    errors = []
    for host, port in upstreams(dns):
        try:
            stream = await exits.open_tcp(route, host, port)
        except (ExitError, OSError, TimeoutError) as exc:
            errors.append(f"{host}:{port}: {exc}")
            continue
        try:
            ips = await _query_over(stream, name, dnswire.TYPE_A)
            if ips:
                return ips
            errors.append(f"{host}:{port}: no A records")
        except (dnswire.DnsError, asyncio.IncompleteReadError, OSError) as exc:
            errors.append(f"{host}:{port}: {exc}")
        finally:
            stream.close()
    raise LookupError("; ".join(errors) or "no DNS upstreams configured")


def _exits(node: Any) -> Any:
    return getattr(node, "exits", None) or getattr(getattr(node, "relay", None), "exits", None)


@router.get("/diag/resolve", response_model=ResolveResult, response_model_exclude_none=True)
async def diag_resolve(
    name: str = Query(..., min_length=1, max_length=253),
    exit_via: str = Query("", max_length=512),
    node: Any = Depends(get_node),
) -> ResolveResult:
    """Always 200: a failed lookup is reported in ``error`` (it is the diagnosis)."""
    try:
        ipaddress.ip_address(name)
        return ResolveResult(name=name, exit_via=exit_via, ips=[name], source="local")
    except ValueError:
        pass
    try:
        dnswire.encode_name(name)
    except dnswire.DnsError as exc:
        raise ApiError(400, str(exc)) from exc
    resolver_on = node.store.sections.get("dns_resolver").get("enabled") is not False
    exit_error = None
    if exit_via and resolver_on:
        exits = _exits(node)
        if exits is None:
            exit_error = "relay not running; resolved locally"
        else:
            try:
                ips = await asyncio.wait_for(
                    resolve_via_exit(exits, name, exit_via, node.store.sections.get("ui").get("dns", "")),
                    RESOLVE_TIMEOUT_S,
                )
                return ResolveResult(name=name, exit_via=exit_via, ips=ips, source="exit")
            except (LookupError, TimeoutError) as exc:
                # Like the resolver itself: fall back to the local lookup, but say why.
                exit_error = f"via exit failed ({exc or 'timed out'}); resolved locally"
    try:
        ips = await asyncio.wait_for(resolve_local(name), RESOLVE_TIMEOUT_S)
    except (OSError, TimeoutError, UnicodeError) as exc:
        message = f"{exit_error}; " if exit_error else ""
        reason = str(exc) or "lookup timed out"
        return ResolveResult(name=name, exit_via=exit_via, ips=[], source="local", error=f"{message}{reason}")
    return ResolveResult(name=name, exit_via=exit_via, ips=ips, source="local", error=exit_error)


def _health(node: Any) -> list[dict[str, Any]]:
    relay = getattr(node, "relay", None)
    health = getattr(relay, "peer_health", None)
    return list(health()) if callable(health) else []


@router.get("/diag/peer-health", response_model=PeerHealthList)
def diag_peer_health(node: Any = Depends(get_node)) -> PeerHealthList:
    return PeerHealthList(
        peers=[
            PeerHealth(
                name=p["name"],
                direction=p["direction"],
                ping_ok=p.get("ping_ok", 0),
                ping_fail=p.get("ping_fail", 0),
                fail_count=p.get("fail_count", 0),
                tx_bytes=p.get("tx_bytes", p.get("tx", 0)),
                rx_bytes=p.get("rx_bytes", p.get("rx", 0)),
            )
            for p in _health(node)
        ]
    )


@router.get("/diag/peer-rebinds", response_model=PeerRebindsList)
def diag_peer_rebinds(node: Any = Depends(get_node)) -> PeerRebindsList:
    return PeerRebindsList(
        peers=[
            PeerRebinds(name=p["name"], direction=p["direction"], rebind_checks=p.get("rebind_checks"))
            for p in _health(node)
        ]
    )


def _sample(item: Any) -> LatencySample:
    if isinstance(item, list | tuple) and len(item) == 2:
        at = dt.datetime.fromtimestamp(float(item[0]), dt.UTC).isoformat().replace("+00:00", "Z")
        return LatencySample(at=at, ms=int(item[1]))
    return LatencySample(at=None, ms=int(item))


@router.get("/diag/peer-latency", response_model=PeerLatencyList)
def diag_peer_latency(node: Any = Depends(get_node)) -> PeerLatencyList:
    return PeerLatencyList(
        peers=[
            PeerLatency(
                name=p["name"],
                direction=p["direction"],
                latency_ms=p.get("latency_ms", -1),
                history=[_sample(s) for s in p.get("history", [])],
            )
            for p in _health(node)
        ]
    )
