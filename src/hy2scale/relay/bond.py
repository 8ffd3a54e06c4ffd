"""Bond receiver (relay spec §10.4): the exit side of `exit_mode: aggregate` from Go peers.

A sender opens one `_bond_<id>_<target>` stream per path ("leg"); each leg starts with a setup
frame and then carries 10-byte-header frames. Upload frames are reordered by sequence number
into one target connection; the target's answer is cut into frames spread over the live legs.
Unlike the original, sessions are keyed by (id, target) and freed when every leg has closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from dataclasses import dataclass, field

from hy2scale.relay.addresses import split_host_port
from hy2scale.relay.streamio import close_quietly
from hy2scale.streams import ByteStream, open_tcp

log = logging.getLogger("hy2scale.relay.bond")

PREFIX = "_bond_"
HEADER = struct.Struct(">IIH")
SEQ_SETUP = 0
SEQ_KEEPALIVE = 0xFFFFFFFD
SEQ_WEIGHTS = 0xFFFFFFFE
SEQ_TEARDOWN = 0xFFFFFFFF
CHUNK = 32 * 1024
LEG_READ_TIMEOUT = 10.0
KEEPALIVE_EVERY = 3.0
GAP_WAIT = 0.2
EMPTY_GAP_WAIT = 5.0
DIAL_TIMEOUT = 10.0
LEG_SETTLE = 0.5
# Reorder-buffer bytes per bond. Legs stop reading while the target is the bottleneck, so QUIC
# flow control slows the sender; without this a fast sender (or a peer sending ahead on purpose)
# and a slow target would make us hold the whole upload in memory.
MAX_BUFFERED = 4 << 20


def parse_bond_address(addr: str) -> tuple[int, str]:
    """``_bond_<decimal id>_<target>`` → (id, target); raises ``ValueError``."""
    if not addr.startswith(PREFIX):
        raise ValueError("not a bond address")
    bond_id, sep, target = addr[len(PREFIX) :].partition("_")
    if not sep or not bond_id.isdigit() or not target:
        raise ValueError(f"malformed bond address {addr!r}")
    return int(bond_id), target


def encode_frame(bond_id: int, seq: int, payload: bytes = b"") -> bytes:
    return HEADER.pack(bond_id, seq, len(payload)) + payload


async def read_frame(stream: ByteStream) -> tuple[int, int, bytes] | None:
    """One frame, or ``None`` at a clean end of the leg."""
    try:
        head = await stream.readexactly(HEADER.size)
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise EOFError("bond frame header cut short") from exc
        return None
    bond_id, seq, size = HEADER.unpack(head)
    payload = await stream.readexactly(size) if size else b""
    return bond_id, seq, payload


@dataclass(eq=False)
class _Leg:
    stream: ByteStream
    index: int
    torn_down: bool = False
    alive: bool = True
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class BondSession:
    def __init__(self, registry: BondRegistry, bond_id: int, target: str) -> None:
        self.registry = registry
        self.bond_id = bond_id
        self.target_addr = target
        self.legs: list[_Leg] = []
        self.buffer: dict[int, bytes] = {}
        self.buffered = 0  # bytes in ``buffer``
        self.room = asyncio.Event()  # set whenever ``_deliver`` takes from the buffer
        self.next_seq = 1
        self.arrived = asyncio.Event()
        self.target: ByteStream | None = None
        self._ready = asyncio.Event()
        self._failed = False
        self._tasks: list[asyncio.Task[None]] = []
        self._writer: asyncio.Task[None] | None = None
        self._rr = 0

    async def start(self) -> None:
        try:
            host, port = split_host_port(self.target_addr)
            self.target = await open_tcp(host, port, timeout=DIAL_TIMEOUT)
        except (OSError, TimeoutError, ValueError) as exc:
            log.info("event=bond_dial_failed bond=%d target=%s error=%s", self.bond_id, self.target_addr, exc)
            self._failed = True
            self._ready.set()
            return
        self._writer = asyncio.ensure_future(self._return_writer())
        self._tasks = [
            asyncio.ensure_future(self._deliver()),
            self._writer,
            asyncio.ensure_future(self._keepalive()),
        ]
        self._tasks[0].add_done_callback(lambda _task: self.room.set())
        self._ready.set()

    async def serve_leg(self, stream: ByteStream, index: int) -> None:
        await self._ready.wait()
        if self._failed:
            return
        leg = _Leg(stream, index)
        self.legs.append(leg)
        self.arrived.set()
        try:
            while True:
                frame = await asyncio.wait_for(read_frame(stream), LEG_READ_TIMEOUT)
                if frame is None:
                    break
                _bond, seq, payload = frame
                if seq == SEQ_TEARDOWN:
                    leg.torn_down = True
                    self.arrived.set()
                    break
                if seq in (SEQ_KEEPALIVE, SEQ_WEIGHTS, SEQ_SETUP) or not payload:
                    continue
                if seq >= self.next_seq:
                    self.buffered += len(payload) - len(self.buffer.get(seq, b""))
                    self.buffer[seq] = payload
                    self.arrived.set()
                    # Only while the next chunk waits on the target: a missing one must still be read.
                    while (
                        self.buffered > MAX_BUFFERED
                        and self.next_seq in self.buffer
                        and not self._tasks[0].done()
                    ):
                        self.room.clear()
                        await self.room.wait()
        except (TimeoutError, EOFError, OSError, ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            leg.alive = False
            self.arrived.set()
            if leg.torn_down:
                # The sender is done on this leg but may still read our answer on it.
                await self._wait_answered()
            self.legs.remove(leg)
            if not self.legs:
                await self.close()

    async def _wait_answered(self) -> None:
        """Until the target's answer has been sent in full (the return writer ended)."""
        if self._writer is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._writer)

    def _all_torn_down(self) -> bool:
        return bool(self.legs) and all(leg.torn_down or not leg.alive for leg in self.legs)

    async def _deliver(self) -> None:
        assert self.target is not None
        loop = asyncio.get_running_loop()
        started = loop.time()
        while True:
            while self.next_seq in self.buffer:
                chunk = self.buffer.pop(self.next_seq)
                self.buffered -= len(chunk)
                self.room.set()
                self.target.write(chunk)
                self.next_seq += 1
                await self.target.drain()
            settling = loop.time() - started < LEG_SETTLE
            if not self.buffer and self._all_torn_down() and not settling:
                self.target.write_eof()
                return
            self.arrived.clear()
            # Legs attach concurrently: "every leg is done" only counts once late legs had time to join.
            wait = GAP_WAIT if self.buffer or settling else EMPTY_GAP_WAIT
            try:
                await asyncio.wait_for(self.arrived.wait(), wait)
            except TimeoutError:
                if self.buffer and self.next_seq not in self.buffer:
                    # A lost chunk: skip the gap rather than stall the stream (as the sender does).
                    self.next_seq = min(self.buffer)

    async def _return_writer(self) -> None:
        assert self.target is not None
        seq = 1
        while True:
            data = await self.target.read(CHUNK)
            if not data:
                break
            if not await self._send(encode_frame(self.bond_id, seq, data)):
                break
            seq += 1
        for leg in list(self.legs):
            await self._write(leg, encode_frame(self.bond_id, SEQ_TEARDOWN))

    async def _send(self, frame: bytes) -> bool:
        for _ in range(len(self.legs) or 1):
            live = [leg for leg in self.legs if leg.alive or leg.torn_down]
            if not live:
                return False
            self._rr = (self._rr + 1) % len(live)
            if await self._write(live[self._rr], frame):
                return True
        return False

    async def _write(self, leg: _Leg, frame: bytes) -> bool:
        async with leg.lock:
            try:
                leg.stream.write(frame)
                await leg.stream.drain()
                return True
            except (OSError, ConnectionError):
                leg.alive = False
                return False

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(KEEPALIVE_EVERY)
            for leg in list(self.legs):
                if leg.alive:
                    await self._write(leg, encode_frame(self.bond_id, SEQ_KEEPALIVE))

    async def close(self) -> None:
        self.registry.sessions.pop((self.bond_id, self.target_addr), None)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.target is not None:
            await close_quietly(self.target)


class BondRegistry:
    def __init__(self) -> None:
        self.sessions: dict[tuple[int, str], BondSession] = {}

    async def handle_leg(self, addr: str, stream: ByteStream) -> None:
        """Serve one leg; the first leg of an (id, target) pair dials the target."""
        try:
            bond_id, target = parse_bond_address(addr)
            frame = await asyncio.wait_for(read_frame(stream), LEG_READ_TIMEOUT)
        except (ValueError, TimeoutError, EOFError, OSError, asyncio.IncompleteReadError):
            return
        if frame is None or frame[0] != bond_id or frame[1] != SEQ_SETUP or len(frame[2]) != 2:
            log.info("event=bond_leg_refused reason=bad_setup")
            return
        index = int.from_bytes(frame[2], "big")
        key = (bond_id, target)
        session = self.sessions.get(key)
        if session is None:
            session = self.sessions[key] = BondSession(self, bond_id, target)
            await session.start()
        await session.serve_leg(stream, index)

    async def close(self) -> None:
        await asyncio.gather(
            *(session.close() for session in list(self.sessions.values())), return_exceptions=True
        )
