"""The `_relay_api_` HTTP/1.1 server: ASGI over one relay stream, auth id in the scope."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import h11

from hy2scale.relay.api_tunnel import RELAY_AUTH_SCOPE_KEY, serve_asgi
from hy2scale.relay.memstream import memory_pair


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if scope["path"] == "/boom":
        raise RuntimeError("app failure")
    payload = {
        "auth": scope[RELAY_AUTH_SCOPE_KEY],
        "path": scope["path"],
        "query": scope["query_string"].decode(),
        "method": scope["method"],
        "body": body.decode(),
    }
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
    )
    raw = json.dumps(payload).encode()
    await send({"type": "http.response.body", "body": raw[:5], "more_body": True})
    await send({"type": "http.response.body", "body": raw[5:]})


async def _exchange(
    client: h11.Connection, stream: Any, request: h11.Request, body: bytes
) -> tuple[int, bytes]:
    stream.write(client.send(request))
    if body:
        stream.write(client.send(h11.Data(data=body)))
    stream.write(client.send(h11.EndOfMessage()))
    status, got = 0, b""
    while True:
        event = client.next_event()
        if event is h11.NEED_DATA:
            client.receive_data(await asyncio.wait_for(stream.read(65536), 5))
            continue
        if isinstance(event, h11.Response):
            status = event.status_code
        elif isinstance(event, h11.Data):
            got += event.data
        elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
            return status, got


async def test_requests_keep_alive_then_close() -> None:
    ours, theirs = memory_pair()
    server = asyncio.ensure_future(serve_asgi(app, theirs, "system"))
    client = h11.Connection(h11.CLIENT)
    req = h11.Request(
        method="POST", target="/scale/api/x%20y?a=1", headers=[("Host", "h"), ("Content-Length", "3")]
    )
    status, body = await _exchange(client, ours, req, b"abc")
    assert status == 200
    assert json.loads(body) == {
        "auth": "system",
        "path": "/scale/api/x y",
        "query": "a=1",
        "method": "POST",
        "body": "abc",
    }
    client.start_next_cycle()
    req = h11.Request(method="GET", target="/boom", headers=[("Host", "h"), ("Connection", "close")])
    status, _ = await _exchange(client, ours, req, b"")
    assert status == 500
    await asyncio.wait_for(server, 5)
    assert await ours.read(1) == b""


async def test_streaming_response_learns_that_the_client_left() -> None:
    """An event stream through the tunnel sees http.disconnect when its reader closes the stream."""
    disconnected = asyncio.Event()

    async def events(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream")],
            }
        )
        await send({"type": "http.response.body", "body": b"data: hello\n\n", "more_body": True})
        message = await receive()  # blocks until the client goes away
        if message["type"] == "http.disconnect":
            disconnected.set()

    ours, theirs = memory_pair()
    server = asyncio.ensure_future(serve_asgi(events, theirs, "system"))
    client = h11.Connection(h11.CLIENT)
    ours.write(client.send(h11.Request(method="GET", target="/events", headers=[("Host", "x")])))
    ours.write(client.send(h11.EndOfMessage()))
    first = await asyncio.wait_for(ours.read(65536), 5)
    assert b"data: hello" in first
    ours.close()
    await asyncio.wait_for(disconnected.wait(), 5)
    await asyncio.wait_for(server, 5)
