"""Graph layout: GET/PUT the shared node coordinates and an SSE stream of every change."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Body, FastAPI, Request
from sse_starlette import EventSourceResponse

from hy2scale.api.deps import JSON_BODY_LIMIT, get_node
from hy2scale.api.schemas.common import Ok
from hy2scale.api.schemas.graph_layout import Layout, WrappedLayout

log = logging.getLogger("hy2scale.api.graph_layout")

router = APIRouter(tags=["graph-layout"], max_body_size=JSON_BODY_LIMIT)

KEEPALIVE_S = 20
# Every frame is a full snapshot, so a slow subscriber may drop frames: the next one heals it.
QUEUE_FRAMES = 4


class LayoutHub:
    """Fans committed layouts out to SSE subscribers without ever blocking the publisher."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self._subscribers: set[asyncio.Queue[str]] = set()

    def snapshot(self) -> str:
        return json.dumps(self._store.sections.get("graph_layout"), separators=(",", ":"))

    def subscribe(self) -> asyncio.Queue[str]:
        queue: asyncio.Queue[str] = asyncio.Queue(QUEUE_FRAMES)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[str]) -> None:
        self._subscribers.discard(queue)

    async def on_change(self, _topic: str) -> None:
        frame = self.snapshot()
        for queue in list(self._subscribers):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(frame)


def install(app: FastAPI) -> None:
    node = app.state.node
    hub = LayoutHub(node.store)
    app.state.layout_hub = hub
    for topic in ("graph_layout", "restore"):
        node.bus.subscribe(topic, hub.on_change)


@router.get("/graph-layout", response_model=Layout)
async def get_layout(request: Request) -> dict[str, Any]:
    """The bare map ``{key: {x, y}}``."""
    return get_node(request).store.sections.get("graph_layout")


@router.put("/graph-layout", response_model=Ok)
async def put_layout(request: Request, body: WrappedLayout | Layout = Body()) -> Ok:
    """Replaces the whole layout (last writer wins); takes the map or ``{"positions": map}``."""
    node = get_node(request)
    positions = body.positions if isinstance(body, WrappedLayout) else body
    layout = {key: pos.model_dump() for key, pos in positions.items()}
    with node.store.transaction():
        node.store.sections.put("graph_layout", layout)
    await node.bus.publish("graph_layout")
    log.info("event=graph_layout_set nodes=%d", len(layout))
    return Ok()


@router.get(
    "/graph-layout/stream",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "layout frames"}},
)
async def stream_layout(request: Request) -> EventSourceResponse:
    """SSE: the current layout on connect, then the full layout after every change; ``: ping`` every 20 s."""
    hub: LayoutHub = request.app.state.layout_hub
    queue = hub.subscribe()

    async def frames() -> AsyncIterator[dict[str, str]]:
        try:
            yield {"data": hub.snapshot()}
            while True:
                yield {"data": await queue.get()}
        finally:
            hub.unsubscribe(queue)

    return EventSourceResponse(
        frames(),
        ping=KEEPALIVE_S,
        sep="\n",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
