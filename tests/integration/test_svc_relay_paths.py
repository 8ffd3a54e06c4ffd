"""The relay's fast paths (kernel splice, protocol splice) on real loopback TCP: bytes, half-close, counters."""

from __future__ import annotations

import asyncio
import hashlib
import os

import pytest

from hy2scale.services import kernel_splice, splice
from hy2scale.streams import AsyncioByteStream

SIZE = 2 * 1024 * 1024


async def tcp_pair() -> tuple[AsyncioByteStream, AsyncioByteStream]:
    """(our end, the remote end) of one loopback TCP connection."""
    accepted: asyncio.Queue[AsyncioByteStream] = asyncio.Queue()

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await accepted.put(AsyncioByteStream(reader, writer))

    server = await asyncio.start_server(on_client, "127.0.0.1", 0)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.sockets[0].getsockname()[1])
    ours = await accepted.get()
    server.close()
    return ours, AsyncioByteStream(reader, writer)


async def read_all(stream: AsyncioByteStream) -> bytes:
    chunks = []
    while data := await stream.read(65536):
        chunks.append(data)
    return b"".join(chunks)


@pytest.mark.parametrize("path", ["kernel", "protocol"])
async def test_fast_paths_move_both_ways_with_half_close(path: str) -> None:
    client_side, client = await tcp_pair()  # client ⇄ client_side (the proxy's accepted socket)
    upstream, server = await tcp_pair()  # upstream (the proxy's dial) ⇄ server
    up_data, down_data = os.urandom(SIZE), os.urandom(SIZE)
    # Bytes already buffered by the StreamReaders before the relay starts must not be lost.
    client.write(up_data[:1000])
    server.write(down_data[:1000])
    await client.drain()
    await server.drain()
    await asyncio.sleep(0.05)
    assert splice.can_splice(client_side, upstream)
    counted = {"tx": 0, "rx": 0}

    def tx(n: int) -> None:
        counted["tx"] += n

    def rx(n: int) -> None:
        counted["rx"] += n

    if path == "kernel":
        assert kernel_splice.can_kernel_splice(client_side, upstream)
        job = splice.fast_relay(client_side, upstream, tx, rx)
    else:
        job = splice.splice(client_side, upstream, tx, rx)
    relay = asyncio.ensure_future(job)

    async def client_role() -> bytes:
        client.write(up_data[1000:])
        await client.drain()
        client.write_eof()  # half-close: the download must still complete
        return await read_all(client)

    async def server_role() -> bytes:
        got = await read_all(server)
        server.write(down_data[1000:])
        await server.drain()
        server.write_eof()
        return got

    got_down, got_up = await asyncio.wait_for(asyncio.gather(client_role(), server_role()), 30)
    await asyncio.wait_for(relay, 10)
    assert hashlib.sha256(got_up).digest() == hashlib.sha256(up_data).digest()
    assert hashlib.sha256(got_down).digest() == hashlib.sha256(down_data).digest()
    assert counted == {"tx": SIZE, "rx": SIZE}
    client.close()
    server.close()


async def test_kernel_path_stops_at_once_when_cancelled() -> None:
    client_side, client = await tcp_pair()
    upstream, server = await tcp_pair()
    relay = asyncio.ensure_future(splice.fast_relay(client_side, upstream, lambda n: None, lambda n: None))
    client.write(b"x" * 10)
    await client.drain()
    assert await server.readexactly(10) == b"x" * 10
    relay.cancel()  # what a kick does
    await asyncio.gather(relay, return_exceptions=True)
    assert await asyncio.wait_for(client.read(1), 5) == b""
    assert await asyncio.wait_for(server.read(1), 5) == b""
    client.close()
    server.close()
