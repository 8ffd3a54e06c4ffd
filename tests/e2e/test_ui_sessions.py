"""Sessions page: a real SOCKS5 client shows up as an active device and can be kicked."""

from __future__ import annotations

import socket
import struct
import time

import pytest
from playwright.sync_api import expect

from tests.conftest import free_port

pytestmark = pytest.mark.e2e


def _socks5_connect(port: int, user: str, password: str, target: tuple[str, int]) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"\x05\x01\x02")
    assert s.recv(2) == b"\x05\x02"
    s.sendall(bytes([1, len(user)]) + user.encode() + bytes([len(password)]) + password.encode())
    assert s.recv(2) == b"\x01\x00"
    s.sendall(b"\x05\x01\x00\x01" + socket.inet_aton(target[0]) + struct.pack("!H", target[1]))
    reply = s.recv(10)
    assert reply[:2] == b"\x05\x00", reply
    return s


def test_active_device_is_listed_and_kicked(node, make_ui) -> None:
    socks_port = free_port()
    node.call("POST", "/users", {"username": "e2e-dev", "password": "dev-secret-12", "enabled": True})
    node.call(
        "POST",
        "/proxies",
        {"id": "socks5", "protocol": "socks5", "listen": f"127.0.0.1:{socks_port}", "enabled": True},
    )
    target = socket.create_server(("127.0.0.1", 0))
    client = None
    try:
        for _ in range(50):  # the service manager starts the listener after the change is published
            try:
                client = _socks5_connect(socks_port, "e2e-dev", "dev-secret-12", target.getsockname())
                break
            except (ConnectionRefusedError, AssertionError):
                time.sleep(0.1)
        assert client is not None, "SOCKS5 listener did not come up"
        peer, _ = target.accept()
        peer.sendall(b"x" * 5000)
        assert client.recv(5000)

        ui = make_ui(node)
        ui.login_as_admin()
        ui.open("sessions")
        table = ui.page.get_by_test_id("sessions-table")
        row = table.locator("tr", has_text="e2e-dev")
        expect(row).to_contain_text("socks5")
        expect(row).to_contain_text("127.0.0.1")
        assert ui.axe() == []
        row.get_by_role("button", name="Kick e2e-dev at 127.0.0.1").click()
        expect(ui.page.get_by_test_id("toast-success").last).to_contain_text("e2e-dev")
        expect(table.locator("tr", has_text="e2e-dev")).to_have_count(0)
        # Kicking closes the device's open connections, not just the table row.
        client.settimeout(5)
        closed = False
        for _ in range(100):
            try:
                closed = client.recv(65536) == b""
            except ConnectionResetError:
                closed = True
            if closed:
                break
        assert closed, "the kicked SOCKS5 connection stayed open"
        peer.close()
    finally:
        if client is not None:
            client.close()
        target.close()
