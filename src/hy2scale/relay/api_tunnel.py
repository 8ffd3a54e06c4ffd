"""Serving the node's HTTP API on `_relay_api_:0` streams (api.md §1.8).

A minimal HTTP/1.1 server (h11 framing) that runs the ASGI app over one relay stream. The
relay auth id is attached by wrapping the app, never derived from a request header.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any
from urllib.parse import unquote

import h11

from hy2scale.streams import ByteStream

log = logging.getLogger("hy2scale.relay.api")

READ = 64 * 1024
# The ASGI scope key the API reads the relay auth id from (docs/internals.md, API plumbing).
RELAY_AUTH_SCOPE_KEY = "hy2scale.relay_auth"


async def next_h11_event(conn: h11.Connection, stream: ByteStream) -> Any:
    """The next h11 event of ``conn``, reading ``stream`` as needed (both ends of the tunnel use it)."""
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await stream.read(READ))
            continue
        return event


async def _client_gone_or(finished: asyncio.Event, conn: h11.Connection, stream: ByteStream) -> None:
    """Return when the response is finished or the client closed the stream.

    A long response (an event stream) must learn that its reader left, or it holds a subscriber
    until its next write fails. Bytes that arrive meanwhile are kept for h11's next cycle.
    """
    done = asyncio.ensure_future(finished.wait())
    try:
        while not finished.is_set():
            reading = asyncio.ensure_future(stream.read(READ))
            await asyncio.wait({reading, done}, return_when=asyncio.FIRST_COMPLETED)
            if not reading.done():
                reading.cancel()
                return
            try:
                data = reading.result()
            except (OSError, ConnectionError):
                return
            if not data:
                return
            conn.receive_data(data)
    finally:
        done.cancel()


async def serve_asgi(
    app: Any, stream: ByteStream, auth_id: str, *, server: tuple[str, int] = ("127.0.0.1", 5565)
) -> None:
    """Serve requests on ``stream`` (opened by a connection with ``auth_id``) until the client
    closes or asks for ``Connection: close``."""
    conn = h11.Connection(h11.SERVER)
    try:
        while True:
            event = await next_h11_event(conn, stream)
            if not isinstance(event, h11.Request):
                return
            await _one(app, conn, stream, event, auth_id, server)
            if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                return
            conn.start_next_cycle()
    except (h11.RemoteProtocolError, h11.LocalProtocolError, OSError, ConnectionError) as exc:
        log.info("event=relay_api_closed error=%s", exc)
    finally:
        stream.close()
        with contextlib.suppress(Exception):
            await stream.wait_closed()


async def _one(
    app: Any,
    conn: h11.Connection,
    stream: ByteStream,
    request: h11.Request,
    auth_id: str,
    server: tuple[str, int],
) -> None:
    target = request.target.decode("latin-1")
    path, _, query = target.partition("?")
    scope = {
        RELAY_AUTH_SCOPE_KEY: auth_id,
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": request.http_version.decode(),
        "method": request.method.decode(),
        "scheme": "http",
        "path": unquote(path),
        "raw_path": path.encode("latin-1"),
        "query_string": query.encode("latin-1"),
        "root_path": "",
        "headers": [(k.lower(), v) for k, v in request.headers],
        "client": ("127.0.0.1", 0),
        "server": server,
    }
    finished = asyncio.Event()
    body_done = False

    async def receive() -> dict[str, Any]:
        nonlocal body_done
        if body_done:
            await _client_gone_or(finished, conn, stream)
            return {"type": "http.disconnect"}
        event = await next_h11_event(conn, stream)
        if isinstance(event, h11.Data):
            return {"type": "http.request", "body": bytes(event.data), "more_body": True}
        body_done = True
        if isinstance(event, h11.EndOfMessage):
            return {"type": "http.request", "body": b"", "more_body": False}
        finished.set()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            headers = [(bytes(k), bytes(v)) for k, v in message.get("headers", [])]
            stream.write(conn.send(h11.Response(status_code=message["status"], headers=headers)) or b"")
        elif message["type"] == "http.response.body":
            body = message.get("body", b"")
            if body:
                stream.write(conn.send(h11.Data(data=body)) or b"")
            if not message.get("more_body", False):
                stream.write(conn.send(h11.EndOfMessage()) or b"")
                finished.set()
        await stream.drain()

    try:
        await app(scope, receive, send)
    except Exception:
        log.exception("event=relay_api_app_failed path=%s", scope["path"])
        if conn.our_state is h11.SEND_RESPONSE:
            await send({"type": "http.response.start", "status": 500, "headers": [(b"connection", b"close")]})
            await send({"type": "http.response.body", "body": b'{"error":"internal error"}'})
    finally:
        finished.set()
    if conn.their_state is h11.SEND_BODY:
        # The app answered without reading the whole body: drain it to keep the framing.
        while not isinstance(await next_h11_event(conn, stream), h11.EndOfMessage | h11.ConnectionClosed):
            pass
