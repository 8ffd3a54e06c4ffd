"""Nodes page against two real nodes: add a peer, watch it connect, share dragged positions live."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ADMIN_PASSWORD

pytestmark = pytest.mark.e2e


def test_add_peer_connects_and_layout_is_shared(node, peer_node, make_ui) -> None:
    info = peer_node.call("GET", "/node")
    peer_password = info["server"]["password"]  # type: ignore[index]
    # The mesh knows a peer by the name it announces, so the client entry uses the same name.
    name = info["name"] or info["node_id"]  # type: ignore[index]
    ui = make_ui(node)
    ui.login_as_admin()
    assert ui.axe() == []

    ui.page.get_by_test_id("add-node-btn").click()
    dialog = ui.page.get_by_test_id("peer-modal")
    dialog.get_by_test_id("node-name-input").fill(name)
    dialog.get_by_test_id("peer-addr-0").fill(f"127.0.0.1:{peer_node.hy2_port}")
    dialog.get_by_test_id("peer-password").fill(peer_password)
    dialog.get_by_test_id("peer-quic-backend").select_option("qh3")
    assert ui.axe() == []
    dialog.get_by_test_id("peer-save").click()
    expect(dialog).to_be_hidden()
    assert node.call("GET", f"/clients/{name}")["quic_backend"] == "qh3"  # type: ignore[index]

    # Graph: the peer appears as a node with an edge from self.
    graph_node = ui.page.locator(f'g[data-node-key="{name}"]')
    expect(graph_node).to_be_visible()
    expect(ui.page.locator(f'g[data-edge="{name}"]')).to_have_count(1)

    # List: the peer row turns from offline to a latency once the link is up.
    ui.page.get_by_test_id("view-list").click()
    row = ui.page.get_by_test_id(f"node-row-{name}")
    expect(row).to_contain_text(re.compile(r"\d+ ms"), timeout=30_000)
    expect(row).to_contain_text("OUT")
    assert ui.axe() == []
    ui.page.get_by_test_id("view-graph").click()
    expect(ui.page.locator(f'g[data-node-key="{name}"] .dot')).to_be_visible()
    expect(ui.page.locator(f'g[data-node-key="{name}"].offline')).to_have_count(0, timeout=15_000)

    # A second browser session sees a drag from the first one through the SSE stream.
    other = make_ui(node)
    other.login_as_admin()
    other_node = other.page.locator(f'g[data-node-key="{name}"]')
    expect(other_node).to_be_visible()
    before = other_node.get_attribute("transform")

    box = graph_node.bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + 11
    ui.page.mouse.move(x, y)
    ui.page.mouse.down()
    for step in range(1, 6):
        ui.page.mouse.move(x + step * 30, y + step * 16)
    ui.page.mouse.up()
    moved = graph_node.get_attribute("transform")
    assert moved != before

    expect(other_node).to_have_attribute("transform", moved or "", timeout=10_000)

    # Keyboard users move a focused node with the arrow keys.
    graph_node.focus()
    ui.page.keyboard.press("ArrowRight")
    expect(graph_node).not_to_have_attribute("transform", moved or "")
    expect(other_node).to_have_attribute(
        "transform", graph_node.get_attribute("transform") or "", timeout=10_000
    )
    ui.page.keyboard.press("Enter")
    expect(ui.page.get_by_test_id("graph-path")).to_contain_text(name)
    expect(ui.page.get_by_test_id("graph-path")).to_contain_text("ms")
    layout = node.call("GET", "/graph-layout")
    assert name in (layout.get("positions", layout) if isinstance(layout, dict) else {})

    # The peer's own UI opens through the relay in a new tab; our token is traded for a cookie
    # (never left in the URL) and the peer still asks for its own login.
    ui.page.get_by_test_id("view-list").click()
    link = ui.page.get_by_test_id(f"node-row-{name}").locator('a[href*="/remote/"]')
    with ui.page.context.expect_page() as opened:
        link.click()
    remote = opened.value
    remote.wait_for_load_state()
    expect(remote.get_by_role("button", name="Sign in")).to_be_visible(timeout=15_000)
    assert f"/remote/{name}/" in remote.url and "token=" not in remote.url
    # Logged into the peer through the tunnel, the page shows the peer's own identity.
    remote.get_by_label("Username").fill("admin")
    remote.get_by_label("Password", exact=True).fill(ADMIN_PASSWORD)
    remote.get_by_test_id("login-submit").click()
    remote.wait_for_url(f"**/remote/{name}/nodes")
    expect(remote.locator("header.topbar")).to_contain_text(info["node_id"], timeout=15_000)  # type: ignore[index]
    remote.close()


def test_graph_pan_and_zoom(node, make_ui) -> None:
    ui = make_ui(node)
    ui.login_as_admin()
    page = ui.page
    stage = page.locator("svg.graph-svg > g")
    expect(page.locator('g[data-node-key="__self__"]')).to_be_visible()
    initial = stage.get_attribute("transform")
    page.get_by_role("button", name="Zoom in").click()
    zoomed = stage.get_attribute("transform")
    assert zoomed != initial and "scale(" in (zoomed or "")
    box = page.locator("svg.graph-svg").bounding_box()
    assert box is not None
    # Drag empty background near the top-left corner: the whole stage pans.
    page.mouse.move(box["x"] + 20, box["y"] + 20)
    page.mouse.down()
    page.mouse.move(box["x"] + 120, box["y"] + 70, steps=5)
    page.mouse.up()
    assert stage.get_attribute("transform") != zoomed
    page.get_by_test_id("graph-fit").click()
    expect(page.locator('g[data-node-key="__self__"]')).to_be_in_viewport()
