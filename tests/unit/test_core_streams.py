"""pipe() moves bytes both ways, counts them live, half-closes and closes both ends."""

from __future__ import annotations

import asyncio
import os

from hy2scale.streams import AsyncioByteStream, open_tcp, pipe


async def _echo_server() -> tuple[asyncio.Server, int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def test_pipe_relays_both_ways_and_counts_while_flowing() -> None:
    echo, echo_port = await _echo_server()
    counted = {"up": 0, "down": 0}
    seen_while_open: list[int] = []

    async def front(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream = await open_tcp("127.0.0.1", echo_port)

        def up(n: int) -> None:
            counted["up"] += n
            seen_while_open.append(counted["up"])

        def down(n: int) -> None:
            counted["down"] += n

        await pipe(AsyncioByteStream(reader, writer), upstream, a_to_b=up, b_to_a=down)

    proxy = await asyncio.start_server(front, "127.0.0.1", 0)
    port = proxy.sockets[0].getsockname()[1]
    payload = os.urandom(1 << 20)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(payload)
    await writer.drain()
    writer.write_eof()
    received = await asyncio.wait_for(reader.read(-1), 10)
    writer.close()
    proxy.close()
    echo.close()
    assert received == payload
    assert counted == {"up": len(payload), "down": len(payload)}
    assert len(seen_while_open) > 1


async def test_pipe_closes_both_sides_when_one_side_resets() -> None:
    closed = asyncio.Event()

    async def sink(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(-1)
        closed.set()
        writer.close()

    target = await asyncio.start_server(sink, "127.0.0.1", 0)
    target_port = target.sockets[0].getsockname()[1]

    async def front(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await pipe(AsyncioByteStream(reader, writer), await open_tcp("127.0.0.1", target_port))

    proxy = await asyncio.start_server(front, "127.0.0.1", 0)
    _r, w = await asyncio.open_connection("127.0.0.1", proxy.sockets[0].getsockname()[1])
    w.write(b"x")
    await w.drain()
    w.transport.abort()
    await asyncio.wait_for(closed.wait(), 5)
    proxy.close()
    target.close()
