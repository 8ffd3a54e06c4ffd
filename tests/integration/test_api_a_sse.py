"""The graph-layout SSE stream over a real HTTP server: two viewers see a third session's PUT."""

from __future__ import annotations

import asyncio
import json
from contextlib import asynccontextmanager

import httpx
import pytest
import uvicorn

from hy2scale.api.app import create_app
from tests.conftest import free_port
from tests.integration.api_a_support import BASE, make_node


@pytest.fixture
def node(tmp_path):
    n = make_node(tmp_path)
    yield n
    n.store.close()


@asynccontextmanager
async def serve(app):
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.02)
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        server.force_exit = True  # open SSE streams would otherwise hold the shutdown
        await asyncio.wait_for(task, 10)


async def next_frame(lines) -> dict:
    """The next ``data:`` frame, skipping keep-alive comments."""
    async for line in lines:
        if line.startswith("data: "):
            return json.loads(line[len("data: ") :])
    raise AssertionError("stream ended")


async def test_two_viewers_see_a_third_sessions_put(node):
    app = create_app(node)
    _, secret = app.state.auth.create_api_token("sse")
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as http:
        headers = {"Authorization": f"Bearer {secret}"}
        assert (await http.get(f"{BASE}/graph-layout/stream")).status_code == 401
        async with (
            http.stream("GET", f"{BASE}/graph-layout/stream", params={"token": secret}) as one,
            http.stream("GET", f"{BASE}/graph-layout/stream", headers=headers) as two,
        ):
            assert one.status_code == two.status_code == 200
            assert one.headers["content-type"].startswith("text/event-stream")
            lines_one, lines_two = one.aiter_lines(), two.aiter_lines()
            assert await asyncio.wait_for(next_frame(lines_one), 5) == {}
            assert await asyncio.wait_for(next_frame(lines_two), 5) == {}
            layout = {"self": {"x": 10.0, "y": 20.0}, "jp": {"x": -5.5, "y": 0.0}}
            _, third = app.state.auth.create_api_token("third")
            async with httpx.AsyncClient(base_url=url, timeout=10) as other:
                r = await other.put(
                    f"{BASE}/graph-layout",
                    json={"positions": layout},
                    headers={"Authorization": f"Bearer {third}"},
                )
            assert r.status_code == 200
            assert await asyncio.wait_for(next_frame(lines_one), 5) == layout
            assert await asyncio.wait_for(next_frame(lines_two), 5) == layout


async def test_keepalive_comments(node, monkeypatch):
    from hy2scale.api.routers import graph_layout

    monkeypatch.setattr(graph_layout, "KEEPALIVE_S", 0.2)
    app = create_app(node)
    _, secret = app.state.auth.create_api_token("sse")
    async with serve(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as http:
        async with http.stream("GET", f"{BASE}/graph-layout/stream", params={"token": secret}) as stream:
            lines = stream.aiter_lines()

            async def first_comment() -> str:
                async for line in lines:
                    if line.startswith(":"):
                        return line
                raise AssertionError("stream ended")

            assert "ping" in await asyncio.wait_for(first_comment(), 5)
