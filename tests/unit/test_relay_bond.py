"""Bond receiver (relay spec §10.4): frames, reordering across legs, return path, teardown."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from hy2scale.relay import bond
from hy2scale.relay.memstream import memory_pair


def test_address_and_frame_vectors() -> None:
    assert bond.parse_bond_address("_bond_7_1.2.3.4:443") == (7, "1.2.3.4:443")
    assert bond.parse_bond_address("_bond_12_host_with_underscore:1") == (12, "host_with_underscore:1")
    for bad in ("_bond_x_h:1", "_bond_7", "bond_7_h:1"):
        with pytest.raises(ValueError):
            bond.parse_bond_address(bad)
    assert bond.encode_frame(7, 0, b"\x00\x01") == bytes.fromhex("00000007 00000000 0002 0001")
    assert bond.encode_frame(1, bond.SEQ_TEARDOWN) == bytes.fromhex("00000001 ffffffff 0000")


class Echo:
    def __init__(self) -> None:
        self.received = b""

    async def start(self) -> tuple[asyncio.Server, int]:
        async def serve(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await r.read(65536):
                    self.received += data
                    w.write(data)
                    await w.drain()
            w.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        return server, server.sockets[0].getsockname()[1]


async def _collect(leg: Any, frames: dict[int, bytes]) -> None:
    while (frame := await asyncio.wait_for(bond.read_frame(leg), 10)) is not None:
        _id, seq, payload = frame
        if seq == bond.SEQ_TEARDOWN:
            return
        if seq not in (bond.SEQ_KEEPALIVE, bond.SEQ_WEIGHTS):
            frames[seq] = payload


async def _session(chunks: list[tuple[int, int, bytes]]) -> tuple[bytes, bytes, bond.BondRegistry]:
    echo = Echo()
    server, port = await echo.start()
    registry = bond.BondRegistry()
    addr = f"_bond_9_127.0.0.1:{port}"
    legs = [memory_pair() for _ in range(2)]
    serving = [asyncio.ensure_future(registry.handle_leg(addr, theirs)) for _, theirs in legs]
    for index, (ours, _) in enumerate(legs):
        ours.write(bond.encode_frame(9, bond.SEQ_SETUP, index.to_bytes(2, "big")))
    for leg_index, seq, payload in chunks:
        legs[leg_index][0].write(bond.encode_frame(9, seq, payload))
    for ours, _ in legs:
        ours.write(bond.encode_frame(9, bond.SEQ_KEEPALIVE) + bond.encode_frame(9, bond.SEQ_TEARDOWN))
    frames: dict[int, bytes] = {}
    await asyncio.gather(*(_collect(ours, frames) for ours, _ in legs))
    for ours, _ in legs:
        ours.close()
    await asyncio.wait_for(asyncio.gather(*serving), 10)
    server.close()
    answer = b"".join(frames[s] for s in sorted(frames))
    return echo.received, answer, registry


async def test_reorders_upload_and_spreads_answer_over_legs() -> None:
    chunks = [(1, 2, b"world "), (0, 1, b"hello "), (1, 3, b"!" * 35000), (0, 4, b"end")]
    received, answer, registry = await _session(chunks)
    expected = b"hello world " + b"!" * 35000 + b"end"
    assert received == expected and answer == expected
    assert registry.sessions == {}


async def test_lost_chunk_is_skipped_not_stalled() -> None:
    received, answer, _ = await _session([(0, 1, b"a"), (1, 3, b"c")])
    assert received == b"ac" and answer == b"ac"


async def test_sender_survives_a_leg_dying() -> None:
    from hy2scale.relay.bond_sender import BondLeg, BondSender

    echo = Echo()
    server, port = await echo.start()
    registry = bond.BondRegistry()
    addr = f"_bond_5_127.0.0.1:{port}"
    pairs = [memory_pair() for _ in range(2)]
    serving = [asyncio.ensure_future(registry.handle_leg(addr, theirs)) for _, theirs in pairs]
    legs = [BondLeg(ours, i) for i, (ours, _) in enumerate(pairs)]
    for leg in legs:
        leg.stream.write(bond.encode_frame(5, bond.SEQ_SETUP, leg.index.to_bytes(2, "big")))
    user, local = memory_pair()
    sender = asyncio.ensure_future(BondSender(5, legs, local).run())
    try:
        user.write(b"first ")
        await user.drain()
        assert await asyncio.wait_for(user.readexactly(6), 5) == b"first "
        pairs[1][1].close()  # the path behind leg 1 breaks
        for word in (b"second ", b"third"):
            user.write(word)
            await user.drain()
            assert await asyncio.wait_for(user.readexactly(len(word)), 5) == word
        assert echo.received == b"first second third"
    finally:
        user.close()
        await asyncio.wait_for(sender, 10)
        await asyncio.wait_for(asyncio.gather(*serving, return_exceptions=True), 10)
        server.close()
    assert registry.sessions == {}
