"""POST /api/upgrade: a .tar.gz of wheels, checked, installed offline into this venv, then re-exec."""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.background import BackgroundTask
from starlette.responses import JSONResponse

from hy2scale import upgrade
from hy2scale.api.deps import ApiError, get_node
from hy2scale.api.schemas_b.backup import UPLOAD_BODY, read_upload
from hy2scale.api.schemas_b.upgrade import UpgradeResult

log = logging.getLogger("hy2scale.api.upgrade")

router = APIRouter(tags=["upgrade"])

RESTART_DELAY_S = 0.5
_upgrade_lock = asyncio.Lock()


def _hook(request: Request, name: str, default: Any) -> Any:
    """Tests replace the install target, pip and the restart through ``app.state``; production uses defaults."""
    return getattr(request.app.state, name, None) or default


async def _restart_later(node: Any, restart: Callable[[], None]) -> None:
    await asyncio.sleep(RESTART_DELAY_S)  # let the answer reach the browser first
    accounts = getattr(node, "accounts", None)
    if accounts is not None:
        # exec skips the normal shutdown: write the traffic counted since the last periodic flush.
        try:
            await accounts.flush()
        except Exception:
            log.exception("event=upgrade_flush_failed")
    restart()


@router.post("/upgrade", response_model=UpgradeResult, openapi_extra=UPLOAD_BODY)
async def post_upgrade(request: Request, node: Any = Depends(get_node)) -> JSONResponse:
    target: Callable[[], Path] = _hook(request, "upgrade_target", upgrade.install_target)
    try:
        target()
    except upgrade.NotUpgradable as exc:
        raise ApiError(409, f"cannot upgrade in place: {exc}") from exc
    if _upgrade_lock.locked():
        raise ApiError(409, "an upgrade is already in progress")
    async with _upgrade_lock:
        data = await read_upload(request, upgrade.MAX_BUNDLE_BYTES)
        try:
            bundle = await asyncio.to_thread(upgrade.check_bundle, data)
            with tempfile.TemporaryDirectory(prefix="hy2scale-upgrade-") as tmp:
                await asyncio.to_thread(
                    upgrade.install,
                    bundle,
                    Path(tmp),
                    pip=_hook(request, "upgrade_pip", None),
                    runner=_hook(request, "upgrade_runner", upgrade.run_pip),
                )
        except upgrade.UpgradeError as exc:
            log.warning("event=upgrade_refused bytes=%d reason=%s", len(data), exc)
            raise ApiError(400, str(exc)) from exc
    restart: Callable[[], None] = _hook(request, "upgrade_restart", upgrade.reexec)
    log.info("event=upgrade_accepted version=%s", bundle.version)
    result = UpgradeResult(version=bundle.version, message="upgrade installed, restarting")
    return JSONResponse(result.model_dump(), background=BackgroundTask(_restart_later, node, restart))
