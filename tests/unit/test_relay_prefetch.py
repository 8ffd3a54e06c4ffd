"""Early-close confirmation of relay paths keeps every byte the far end sends first."""

from __future__ import annotations

import asyncio

import pytest

from hy2scale.relay.memstream import memory_pair
from hy2scale.relay.prefetch import EarlyClose, confirm


async def test_early_close_is_a_dead_path() -> None:
    ours, theirs = memory_pair()
    theirs.close()
    with pytest.raises(EarlyClose):
        await confirm(ours, 1.0)


async def test_banner_before_window_is_kept() -> None:
    ours, theirs = memory_pair()
    theirs.write(b"SSH-2.0-x\r\n")
    stream = await confirm(ours, 1.0)
    assert await stream.readexactly(4) == b"SSH-"
    theirs.write(b"more")
    assert await stream.readexactly(11) == b"2.0-x\r\nmore"


async def test_silent_open_stream_passes_and_reads_later() -> None:
    ours, theirs = memory_pair()
    stream = await confirm(ours, 0.05)
    stream.write(b"ping")
    assert await theirs.readexactly(4) == b"ping"
    theirs.write(b"pong")
    assert await asyncio.wait_for(stream.read(100), 5) == b"pong"
    theirs.close()
    assert await stream.read(100) == b""
    with pytest.raises(asyncio.IncompleteReadError):
        await stream.readexactly(1)
    stream.close()
