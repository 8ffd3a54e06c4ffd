"""Bond sender (relay spec §10.3): `exit_mode: aggregate` spreads one connection over several
paths that end at the same exit node, which runs the receiver (`bond.py`, ours or Go's).

Upload chunks go round-robin over the healthy legs (the original puts them all on the first
one); the exit's answer is reordered by sequence number. Bond ids are random, not a counter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets

from hy2scale.relay.bond import (
    CHUNK,
    SEQ_KEEPALIVE,
    SEQ_SETUP,
    SEQ_TEARDOWN,
    SEQ_WEIGHTS,
    encode_frame,
    read_frame,
)
from hy2scale.relay.memstream import MemoryStream, memory_pair
from hy2scale.relay.mesh import Mesh, RelayError
from hy2scale.relay.streamio import close_quietly
from hy2scale.streams import ByteStream

log = logging.getLogger("hy2scale.relay.bond")

KEEPALIVE_EVERY = 2.0
LEG_READ_TIMEOUT = 8.0
GAP_WAIT = 0.1


class BondLeg:
    def __init__(self, stream: ByteStream, index: int) -> None:
        self.stream = stream
        self.index = index
        self.healthy = True
        self.done = False
        self.lock = asyncio.Lock()


class BondSender:
    def __init__(self, bond_id: int, legs: list[BondLeg], local: MemoryStream) -> None:
        self.bond_id = bond_id
        self.legs = legs
        self.local = local
        self.buffer: dict[int, bytes] = {}
        self.next_seq = 1
        self.arrived = asyncio.Event()
        self._rr = 0
        self._tasks: list[asyncio.Task[None]] = []

    async def run(self) -> None:
        self._tasks = [asyncio.ensure_future(self._read_leg(leg)) for leg in self.legs]
        self._tasks += [asyncio.ensure_future(self._keepalive()), asyncio.ensure_future(self._upload())]
        try:
            await self._deliver()
        except (OSError, ConnectionError):
            log.debug("event=bond_user_side_closed bond=%d", self.bond_id)
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            for leg in self.legs:
                await close_quietly(leg.stream)
            await close_quietly(self.local)

    async def _write(self, leg: BondLeg, frame: bytes) -> bool:
        async with leg.lock:
            try:
                leg.stream.write(frame)
                await leg.stream.drain()
                return True
            except (OSError, ConnectionError):
                leg.healthy = False
                self.arrived.set()
                return False

    async def _upload(self) -> None:
        seq = 1
        while data := await self.local.read(CHUNK):
            frame = encode_frame(self.bond_id, seq, data)
            for _ in range(len(self.legs)):
                healthy = [leg for leg in self.legs if leg.healthy]
                if not healthy:
                    return
                self._rr = (self._rr + 1) % len(healthy)
                if await self._write(healthy[self._rr], frame):
                    break
            seq += 1
        for leg in self.legs:
            if leg.healthy:
                await self._write(leg, encode_frame(self.bond_id, SEQ_TEARDOWN))

    async def _read_leg(self, leg: BondLeg) -> None:
        try:
            while True:
                frame = await asyncio.wait_for(read_frame(leg.stream), LEG_READ_TIMEOUT)
                if frame is None:
                    break
                _bond, seq, payload = frame
                if seq == SEQ_TEARDOWN:
                    leg.done = True
                    break
                if seq in (SEQ_KEEPALIVE, SEQ_WEIGHTS, SEQ_SETUP) or not payload:
                    continue
                if seq >= self.next_seq:
                    self.buffer[seq] = payload
                    self.arrived.set()
        except (TimeoutError, EOFError, OSError, ConnectionError, asyncio.IncompleteReadError):
            leg.healthy = False
        finally:
            if not leg.done:
                leg.healthy = False
            self.arrived.set()

    def _finished(self) -> bool:
        return all(leg.done or not leg.healthy for leg in self.legs)

    async def _deliver(self) -> None:
        while True:
            while self.next_seq in self.buffer:
                self.local.write(self.buffer.pop(self.next_seq))
                self.next_seq += 1
                await self.local.drain()
            if self._finished() and not self.buffer:
                self.local.write_eof()
                # Keep the upload going until the user side ends too.
                with contextlib.suppress(Exception):
                    await self._tasks[-1]
                return
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), GAP_WAIT if self.buffer else None)
            except TimeoutError:
                if self.buffer and self.next_seq not in self.buffer:
                    self.next_seq = min(self.buffer)

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(KEEPALIVE_EVERY)
            for leg in self.legs:
                if leg.healthy and not leg.done:
                    await self._write(leg, encode_frame(self.bond_id, SEQ_KEEPALIVE))


async def dial_bond(mesh: Mesh, paths: list[list[str]], target: str) -> ByteStream:
    """One connection to ``target`` over every path in ``paths`` (all ending at one node)."""
    bond_id = secrets.randbelow(0x7FFFFFFF) + 1
    addr = f"_bond_{bond_id}_{target}"
    legs: list[BondLeg] = []
    errors: list[str] = []
    for hops in paths:
        try:
            stream = await mesh.dial_hops(hops, addr)
        except RelayError as exc:
            errors.append(str(exc))
            continue
        leg = BondLeg(stream, len(legs))
        stream.write(encode_frame(bond_id, SEQ_SETUP, leg.index.to_bytes(2, "big")))
        legs.append(leg)
    if not legs:
        raise RelayError(f"no bond leg could be opened: {'; '.join(errors)}")
    user_end, local = memory_pair()
    sender = BondSender(bond_id, legs, local)
    mesh.spawn(sender.run(), "bond_sender")
    log.info("event=bond_opened bond=%d legs=%d target=%s", bond_id, len(legs), target)
    return user_end
