"""Byte-level behaviour of the served relay streams, driven the way a Go peer drives them."""

from __future__ import annotations

import asyncio
import json

from hy2scale.relay import addresses as A
from hy2scale.relay import wire
from hy2scale.relay.discovery import list_peers_payload, path_latency
from hy2scale.relay.handlers import handle_stream
from hy2scale.relay.memstream import memory_pair
from hy2scale.relay.mesh import Mesh, StreamContext


async def _read_str16(stream) -> str:
    n = int.from_bytes(await stream.readexactly(2), "big")
    return (await stream.readexactly(n)).decode()


async def _register(mesh: Mesh, flags: int, name: str, meta: dict | None, conn: object = "q1"):
    ours, theirs = memory_pair()
    task = asyncio.ensure_future(handle_stream(mesh, A.REGISTER, theirs, StreamContext(conn_key=conn)))
    ours.write(bytes([flags]) + wire.encode_str16(name))
    server_name = await _read_str16(ours)
    server_meta = None
    if flags & wire.FLAG_META:
        n = int.from_bytes(await ours.readexactly(2), "big")
        server_meta = json.loads(await ours.readexactly(n))
    if meta is not None:
        ours.write(wire.encode_meta16(meta))
    return ours, task, server_name, server_meta


async def _until(cond, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


async def test_register_server_role_bytes() -> None:
    mesh = Mesh("srv", "5e5e5e5e")
    meta = {"v": "1.3.4", "pv": 3, "id": "0a0a0a0a", "tun": True}
    stream, task, name, server_meta = await _register(mesh, 0x03, "go1", meta)
    assert name == "srv"
    assert server_meta["v"] == "1.3.4" and server_meta["pv"] == 3 and server_meta["id"] == "5e5e5e5e"
    await _until(lambda: mesh.peers.get("go1") is not None)
    peer = mesh.peers.get("go1")
    assert peer.direction == "inbound" and peer.exit_node and peer.meta.tun and not peer.incompatible
    # Any byte after the meta ends the registration (the Go watchdog rule).
    stream.write(b"\x00")
    await asyncio.wait_for(task, 5)
    assert mesh.peers.get("go1") is None


async def test_register_legacy_peer_without_meta_is_incompatible() -> None:
    mesh = Mesh("srv", "5e5e5e5e")
    stream, task, name, server_meta = await _register(mesh, 0x00, "old", None)
    assert name == "srv" and server_meta is None
    # The server waits 2 s for a meta that never comes, then installs an old (1.0.0) peer.
    await _until(lambda: mesh.peers.get("old") is not None, 4)
    assert mesh.peers.get("old").incompatible
    stream.close()
    await asyncio.wait_for(task, 5)


async def test_blocked_and_impostor_registers_are_closed() -> None:
    mesh = Mesh("srv", "5e5e5e5e")
    mesh.blocked.add("bad")
    stream, task, _, _ = await _register(mesh, 0x02, "bad", {"v": "1.3.4", "pv": 3, "id": "1"})
    await asyncio.wait_for(task, 5)
    assert await stream.read(1) == b"" and mesh.peers.get("bad") is None

    _s1, t1, _, _ = await _register(mesh, 0x02, "b", {"v": "1.3.4", "pv": 3, "id": "aaaa"})
    await _until(lambda: mesh.peers.get("b") is not None)
    s2, t2, _, _ = await _register(mesh, 0x02, "b", {"v": "1.3.4", "pv": 3, "id": "bbbb"}, conn="q2")
    await asyncio.wait_for(t2, 5)
    assert await s2.read(1) == b""
    assert mesh.peers.get("b").node_id == "aaaa"
    t1.cancel()


async def test_ctrl_request_and_data_matching() -> None:
    mesh = Mesh("srv", "5e5e5e5e")
    _reg, reg_task, _, _ = await _register(mesh, 0x02, "c", {"v": "1.3.4", "pv": 3, "id": "c"})
    ctrl, theirs = memory_pair()
    ctrl_task = asyncio.ensure_future(handle_stream(mesh, A.CTRL, theirs, StreamContext(conn_key="q1")))
    ctrl.write(wire.encode_str16("c"))
    await _until(lambda: mesh.peers.get("c") is not None and mesh.peers.get("c").ctrl is not None)

    opened = asyncio.ensure_future(mesh.ctrl_request(mesh.peers.get("c"), "10.0.0.1:22"))
    req_id = await _read_str16(ctrl)
    assert req_id.isdigit()
    assert await _read_str16(ctrl) == "10.0.0.1:22"
    data_ours, data_theirs = memory_pair()
    await handle_stream(mesh, A.data_address(req_id), data_theirs, StreamContext(conn_key="q1"))
    stream = await asyncio.wait_for(opened, 5)
    data_ours.write(b"banner")
    assert await stream.readexactly(6) == b"banner"
    # An unknown id is closed after the short match window.
    stray_ours, stray_theirs = memory_pair()
    await handle_stream(mesh, A.data_address("999"), stray_theirs, StreamContext())
    assert await stray_ours.read(1) == b""
    for t in (reg_task, ctrl_task):
        t.cancel()


async def test_ping_latency_rebind_and_list_peers() -> None:
    mesh = Mesh("srv", "5e5e5e5e")
    ours, theirs = memory_pair()
    await handle_stream(mesh, A.PING, theirs, StreamContext())
    assert await ours.read(10) == b"\x01" and await ours.read(1) == b""

    ours, theirs = memory_pair()
    await handle_stream(mesh, "_relay_rebind_sb_1_1:0", theirs, StreamContext())
    assert await ours.read(1) == b""

    _reg, reg_task, _, _ = await _register(mesh, 0x02, "c", {"v": "1.3.4", "pv": 3, "id": "c"})
    await _until(lambda: mesh.peers.get("c") is not None)
    ours, theirs = memory_pair()
    ours.write(wire.encode_latency("c", 42))
    await handle_stream(mesh, A.LATENCY, theirs, StreamContext())
    assert mesh.peers.get("c").stats.latency_ms == 42

    mesh.clients = [{"name": "off", "addr": "x:1"}, {"name": "dis", "addr": "y:1", "disabled": True}]
    ours, theirs = memory_pair()
    await handle_stream(mesh, A.LIST_PEERS + "#bridge=sb_1_2", theirs, StreamContext())
    listed = json.loads(await ours.read(65536))
    assert listed == list_peers_payload(mesh)
    by_name = {p["name"]: p for p in listed}
    assert set(by_name) == {"c", "off"}
    assert by_name["c"]["connected"] and by_name["c"]["direction"] == "inbound"
    assert by_name["c"]["latency_ms"] == 42 and by_name["c"]["version"] == "1.3.4"
    assert by_name["off"] == {
        "name": "off",
        "exit_node": False,
        "direction": "outbound",
        "native": False,
        "latency_ms": -1,
        "connected": False,
    }
    mesh.flags["c"] = {"disabled": True}
    assert [p["name"] for p in list_peers_payload(mesh)] == ["off"]
    reg_task.cancel()


async def test_children_published_only_with_nested_and_rule_one() -> None:
    mesh = Mesh("srv", "5e5e5e5e")
    _reg, reg_task, _, _ = await _register(mesh, 0x02, "p", {"v": "1.3.4", "pv": 3, "id": "p"})
    await _until(lambda: mesh.peers.get("p") is not None)
    mesh.peers.get("p").stats.latency_ms = 10
    mesh.discovered["p"] = [
        {"name": "q", "latency_ms": 5, "children": [{"name": "r", "latency_ms": 1}]},
        {"name": "srv", "latency_ms": 1},
        {"name": "p", "latency_ms": 1},
    ]
    assert "children" not in list_peers_payload(mesh)[0]
    mesh.flags["p"] = {"nested": True}
    children = list_peers_payload(mesh)[0]["children"]
    assert [c["name"] for c in children] == ["q"]
    assert children[0]["latency_ms"] == 15 and children[0]["via"] == "p" and "children" not in children[0]
    mesh.flags["p/q"] = {"nested": True}
    deep = list_peers_payload(mesh)[0]["children"][0]["children"]
    assert deep[0]["name"] == "r" and deep[0]["latency_ms"] == 16
    assert path_latency(mesh, ["p", "q", "r"]) == 16
    assert path_latency(mesh, ["p"]) == 10
    assert path_latency(mesh, ["p", "zz"]) == -1
    reg_task.cancel()
