"""Build id (public), build info, host arch and the host port check."""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import re
import shutil
import sqlite3
import ssl
import subprocess
import sys
from importlib import metadata
from typing import Any

from fastapi import APIRouter, Body, Request, Response

from hy2scale import __version__, hostprobe, upgrade
from hy2scale.api.deps import JSON_BODY_LIMIT
from hy2scale.api.schemas_b.system import (
    BuildId,
    BuildInfo,
    Dependency,
    Native,
    PortCheckRequest,
    PortCheckResult,
    PortItem,
    PortsBody,
    SystemArch,
)

public_router = APIRouter(tags=["system"])
# FastAPI reads and parses a JSON body before the auth dependency runs: without a cap an anonymous
# client could make us buffer and parse gigabytes.
router = APIRouter(tags=["system"], max_body_size=JSON_BODY_LIMIT)

NO_CACHE = "no-cache, no-store, must-revalidate"
VERSION_RE = re.compile(r"\d+\.\d+(\.\d+)?")
# Native programs we drive, with how to ask their version and where they come from.
NATIVE_TOOLS = (
    ("strongSwan", ("swanctl", "--version"), "GPL-2.0-or-later", "https://www.strongswan.org"),
    ("xl2tpd", ("xl2tpd", "-v"), "GPL-2.0-only", "https://github.com/xelerance/xl2tpd"),
    ("pppd", ("pppd", "--version"), "BSD-style and GPL-2.0", "https://github.com/ppp-project/ppp"),
    ("wireguard-tools", ("wg", "--version"), "GPL-2.0-only", "https://www.wireguard.com"),
    ("nftables", ("nft", "--version"), "GPL-2.0-only", "https://netfilter.org/projects/nftables/"),
    ("iptables", ("iptables", "--version"), "GPL-2.0-or-later", "https://netfilter.org/projects/iptables/"),
)


def build_id(request: Request) -> str:
    refresh = getattr(request.app.state, "ui_refresh_build_id", None)
    ui_id = refresh() if refresh is not None else getattr(request.app.state, "ui_build_id", None)
    if ui_id:
        return ui_id
    return hashlib.sha256(__version__.encode()).hexdigest()[:16]


@public_router.get("/build-id", response_model=BuildId)
def get_build_id(request: Request, response: Response) -> BuildId:
    response.headers["Cache-Control"] = NO_CACHE
    return BuildId(build_id=build_id(request))


def _licence(dist: metadata.Distribution) -> str:
    meta = dist.metadata
    expression = meta.get("License-Expression")
    if expression:
        return expression
    classifiers = [
        c.rsplit(" :: ", 1)[-1] for c in meta.get_all("Classifier") or [] if c.startswith("License ::")
    ]
    if classifiers:
        return ", ".join(classifiers)
    text = (meta.get("License") or "").strip()
    return text.splitlines()[0][:80] if text else "unknown"


def _requirement_name(requirement: str) -> str | None:
    """Name of a requirement that applies without extras (``foo>=1; extra == "x"`` → None)."""
    spec, _, marker = requirement.partition(";")
    if "extra" in marker:
        return None
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", spec.strip())
    return match.group(0) if match else None


@functools.lru_cache(maxsize=1)
def python_dependencies() -> tuple[Dependency, ...]:
    """Every distribution hy2scale needs at run time (transitively), as installed here."""
    try:
        pending = [r for r in (metadata.requires("hy2scale") or []) if _requirement_name(r)]
    except metadata.PackageNotFoundError:
        return ()
    seen: dict[str, Dependency] = {}
    queue = [_requirement_name(r) for r in pending]
    while queue:
        name = queue.pop()
        if not name:
            continue
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # an optional platform-specific requirement not installed here
        seen[key] = Dependency(path=dist.metadata["Name"], version=dist.version, license=_licence(dist))
        queue.extend(_requirement_name(r) for r in dist.requires or [])
    return tuple(sorted(seen.values(), key=lambda d: d.path.lower()))


def _tool_version(argv: tuple[str, ...]) -> str | None:
    path = shutil.which(argv[0]) or (hostprobe.charon_path() if argv[0] == "charon" else None)
    if path is None:
        return None
    try:
        out = subprocess.run([path, *argv[1:]], capture_output=True, text=True, timeout=3, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    match = VERSION_RE.search(out.stdout + out.stderr)
    return match.group(0) if match else "unknown"


@functools.lru_cache(maxsize=1)
def native_components() -> tuple[Native, ...]:
    """Native code this node links or runs: the interpreter, OpenSSL, SQLite, and installed VPN/firewall tools."""
    natives = [
        Native(
            name="CPython",
            version=platform.python_version(),
            license="PSF-2.0",
            source="https://www.python.org",
        ),
        Native(
            name="OpenSSL",
            version=ssl.OPENSSL_VERSION.split()[1],
            license="Apache-2.0",
            source="https://www.openssl.org",
        ),
        Native(
            name="SQLite",
            version=sqlite3.sqlite_version,
            license="blessing (public domain)",
            source="https://sqlite.org",
        ),
    ]
    for name, argv, licence, source in NATIVE_TOOLS:
        version = _tool_version(argv)
        if version is not None:
            natives.append(Native(name=name, version=version, license=licence, source=source))
    return tuple(natives)


def _project_meta() -> tuple[str, str]:
    try:
        dist = metadata.distribution("hy2scale")
    except metadata.PackageNotFoundError:
        return "MIT", ""
    urls = dist.metadata.get_all("Project-URL") or []
    repository = next(
        (u.split(",", 1)[1].strip() for u in urls if "," in u), dist.metadata.get("Home-page") or ""
    )
    return _licence(dist), repository


@router.get("/build-info", response_model=BuildInfo)
def get_build_info() -> BuildInfo:
    licence, repository = _project_meta()
    return BuildInfo(
        version=__version__,
        license=licence,
        repository=repository,
        go_deps=list(python_dependencies()),
        natives=list(native_components()),
    )


@router.get("/system/arch", response_model=SystemArch)
def get_system_arch() -> SystemArch:
    try:
        upgrade.install_target()
        upgradable, reason = True, ""
    except upgrade.NotUpgradable as exc:
        upgradable, reason = False, str(exc)
    return SystemArch(
        os=platform.system().lower(),
        arch=hostprobe.machine_arch(),
        version=__version__,
        binary=os.path.basename(sys.argv[0]) or "hy2scale",
        in_docker=hostprobe.in_container(),
        python=platform.python_version(),
        upgradable=upgradable,
        upgrade_reason=reason,
    )


@router.post("/check-ports", response_model=PortCheckResult, response_model_exclude_none=True)
def check_ports(body: PortCheckRequest = Body(...)) -> dict[str, Any]:
    """Really binds each port on all interfaces (and releases it): true/absent from conflicts = free."""
    if isinstance(body, PortsBody) and all(isinstance(p, int) for p in body.ports):
        results: dict[str, bool] = {}
        conflicts: list[PortItem] = []
        for port in body.ports:
            busy = [proto for proto in ("tcp", "udp") if not hostprobe.port_free(port, proto)]
            results[str(port)] = not busy
            conflicts.extend(PortItem(port=port, proto=proto) for proto in busy)
        return {"conflicts": conflicts, "results": results}
    items = body.ports if isinstance(body, PortsBody) else body
    return {"conflicts": [item for item in items if not hostprobe.port_free(item.port, item.proto)]}
