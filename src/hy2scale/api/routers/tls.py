"""TLS certificate store: list, import (text or server paths), generate (leaf or CA), sign, PEM, delete."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Response

from hy2scale.api.deps import JSON_BODY_LIMIT, ApiError, get_node
from hy2scale.api.schemas.common import Ok
from hy2scale.api.schemas_b.tls import CertGenerate, CertImport, CertImportPath, CertInfo, CertSign
from hy2scale.certs import CertError, CertInUse, CertNotFound, CertStore, cert_user, check_id

# FastAPI reads and parses a JSON body before the auth dependency runs: without a cap an anonymous
# client could make us buffer and parse gigabytes.
router = APIRouter(tags=["tls"], max_body_size=JSON_BODY_LIMIT)


def cert_store(node: Any) -> CertStore:
    """The node's cert store (a bare one over ``<data>/tls`` when the node does not carry one)."""
    certs = getattr(node, "certs", None)
    return certs if certs is not None else CertStore(Path(node.store.path).parent / "tls")


def cert_in_use(node: Any, cert_id: str) -> str | None:
    return cert_user(node.store, cert_store(node).dir, cert_id)


async def _create(node: Any, cert_id: str, overwrite: bool, make: Callable[[CertStore], dict]) -> dict:
    certs = cert_store(node)
    try:
        if certs.exists(cert_id) and not overwrite:
            raise ApiError(409, f"certificate {cert_id!r} already exists (set overwrite to replace it)")
        info = make(certs)
    except ValueError as exc:  # CertError, and what the X.509 library rejects
        raise ApiError(400, str(exc)) from exc
    await node.bus.publish("tls")
    return info


@router.get("/tls", response_model=list[CertInfo])
def list_certs(node: Any = Depends(get_node)) -> list[dict]:
    return [{**info, "used_by": cert_in_use(node, info["id"])} for info in cert_store(node).list()]


@router.post("/tls/import", response_model=CertInfo)
async def import_cert(body: CertImport, node: Any = Depends(get_node)) -> dict:
    return await _create(
        node,
        body.id,
        body.overwrite,
        lambda c: c.import_pem(body.id, body.cert, body.key or None, name=body.name or None),
    )


MAX_PEM_FILE = 1024 * 1024


def _check_pem_file(path: str, what: str) -> None:
    """Only regular files of sane size: a path like /dev/zero must not hang the server."""
    try:
        info = Path(path).stat()
    except OSError as exc:
        raise ApiError(400, f"cannot read {what} file: {exc.strerror}") from exc
    if not stat.S_ISREG(info.st_mode):
        raise ApiError(400, f"cannot read {what} file: not a regular file")
    if info.st_size > MAX_PEM_FILE:
        raise ApiError(400, f"cannot read {what} file: larger than 1 MiB")


@router.post("/tls/import-path", response_model=CertInfo)
async def import_cert_path(body: CertImportPath, node: Any = Depends(get_node)) -> dict:
    _check_pem_file(body.cert_path, "cert")
    if body.key_path:
        _check_pem_file(body.key_path, "key")
    return await _create(
        node,
        body.id,
        body.overwrite,
        lambda c: c.import_paths(body.id, body.cert_path, body.key_path or None, name=body.name or None),
    )


@router.post("/tls/generate", response_model=CertInfo)
async def generate_cert(body: CertGenerate, node: Any = Depends(get_node)) -> dict:
    return await _create(
        node,
        body.id,
        body.overwrite,
        lambda c: c.generate(body.id, body.domains, name=body.name or None, days=body.days, is_ca=body.is_ca),
    )


@router.post("/tls/sign", response_model=CertInfo)
async def sign_cert(body: CertSign, node: Any = Depends(get_node)) -> dict:
    if not cert_store(node).exists(body.ca_id):
        raise ApiError(404, f"CA {body.ca_id!r} not found")
    return await _create(
        node,
        body.id,
        body.overwrite,
        lambda c: c.sign(body.ca_id, body.id, body.cn, name=body.name or None, days=body.days),
    )


@router.get(
    "/tls/{cert_id}/pem",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "certificate PEM (never the key)"}},
)
def cert_pem(cert_id: str, node: Any = Depends(get_node)) -> Response:
    try:
        pem = cert_store(node).cert_pem(check_id(cert_id))
    except CertNotFound as exc:
        raise ApiError(404, str(exc)) from exc
    except CertError as exc:
        raise ApiError(400, str(exc)) from exc
    return Response(pem, media_type="text/plain; charset=utf-8")


@router.delete("/tls/{cert_id}", response_model=Ok)
async def delete_cert(cert_id: str, node: Any = Depends(get_node)) -> Ok:
    certs = cert_store(node)
    try:
        check_id(cert_id)
        if not certs.exists(cert_id):
            raise CertNotFound(f"certificate {cert_id!r} not found")
        user = cert_in_use(node, cert_id)
        if user:
            raise CertInUse(f"certificate {cert_id!r} is in use by {user}")
        certs.delete(cert_id)
    except CertNotFound as exc:
        raise ApiError(404, str(exc)) from exc
    except CertInUse as exc:
        raise ApiError(409, str(exc)) from exc
    except CertError as exc:
        raise ApiError(400, str(exc)) from exc
    await node.bus.publish("tls")
    return Ok()
