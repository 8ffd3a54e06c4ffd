"""GET /api/backup (a .tar.gz snapshot) and POST /api/restore (checked, swapped in, parts reloaded)."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from hy2scale import __version__, backup
from hy2scale.api.deps import ApiError, get_node
from hy2scale.api.schemas_b.backup import UPLOAD_BODY, RestoreResult, read_upload
from hy2scale.bus import TOPICS
from hy2scale.certs import CertStore
from hy2scale.store import Store, StoreError

log = logging.getLogger("hy2scale.api.backup")

router = APIRouter(tags=["backup"])

# One restore at a time; a second waits rather than interleaving two swaps.
_restore_lock = asyncio.Lock()


def data_dir(node: Any) -> Path:
    return Path(node.store.path).parent


def import_original(store: Any, text: str, staging: Path) -> None:
    """An original hy2scale config.yaml (or our YAML export) into the staged store; certs already staged."""
    from hy2scale import config_io

    try:
        config_io.import_yaml(store, CertStore(staging / backup.TLS_DIR), text)
    except (ValueError, StoreError) as exc:  # ConfigError and CertError are ValueErrors
        raise backup.RestoreError(f"invalid config.yaml: {exc}") from exc


@router.get(
    "/backup",
    response_class=Response,
    responses={200: {"content": {"application/gzip": {}}, "description": "backup archive (.tar.gz)"}},
)
async def get_backup(node: Any = Depends(get_node)) -> Response:
    archive = await asyncio.to_thread(backup.create_backup, data_dir(node), version=__version__)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return Response(
        archive,
        media_type="application/gzip",
        headers={
            "Content-Disposition": f'attachment; filename="hy2scale-backup-{stamp}.tar.gz"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/restore", response_model=RestoreResult, openapi_extra=UPLOAD_BODY)
async def post_restore(request: Request, node: Any = Depends(get_node)) -> RestoreResult:
    data = await read_upload(request, backup.MAX_UPLOAD_BYTES)
    async with _restore_lock:
        try:
            archive = await asyncio.to_thread(
                backup.restore, data, data_dir(node), open_store=Store.open, import_original=import_original
            )
        except backup.RestoreError as exc:
            log.warning("event=restore_refused bytes=%d reason=%s", len(data), exc)
            raise ApiError(400, str(exc)) from exc
    await node.bus.publish("restore")
    # Every stored thing may have changed: parts that only follow their own topic reload too.
    for topic in sorted(TOPICS - {"restore"}):
        await node.bus.publish(topic)
    return RestoreResult(kind=archive.kind, files=len(archive.files), skipped=archive.skipped)
