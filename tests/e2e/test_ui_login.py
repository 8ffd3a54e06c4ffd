"""Login on a first-run node: the default password forces a change before anything else."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ADMIN_PASSWORD

pytestmark = pytest.mark.e2e


def test_login_forces_password_change(fresh_node, make_ui) -> None:
    ui = make_ui(fresh_node)
    ui.goto("nodes")
    ui.page.wait_for_url("**/scale/login")
    assert ui.axe() == []

    ui.login("admin", "wrong-password")
    expect(ui.page.get_by_test_id("form-error")).to_contain_text("Invalid username or password")

    ui.login("admin", "admin")
    ui.page.wait_for_url("**/scale/settings?tab=account")
    expect(ui.page.get_by_test_id("force-banner")).to_be_visible()
    # Every other page is locked until the password is changed.
    expect(ui.page.locator("nav .nav-item.disabled")).to_have_count(6)
    assert ui.axe() == []

    ui.page.get_by_test_id("pw-current").fill("admin")
    ui.page.get_by_test_id("pw-new").fill(ADMIN_PASSWORD)
    ui.page.get_by_test_id("pw-again").fill(ADMIN_PASSWORD + "x")
    ui.page.get_by_test_id("pw-save").click()
    expect(ui.page.get_by_test_id("form-error")).to_contain_text("do not match")
    ui.page.get_by_test_id("pw-again").fill(ADMIN_PASSWORD)
    ui.page.get_by_test_id("pw-save").click()
    ui.page.wait_for_url("**/scale/nodes")
    expect(ui.page.get_by_test_id("topology-card")).to_be_visible()

    ui.page.get_by_test_id("logout").click()
    ui.page.wait_for_url("**/scale/login")
    ui.login("admin", ADMIN_PASSWORD)
    ui.page.wait_for_url("**/scale/nodes")
    assert ui.console_errors == []


def test_remember_me_keeps_the_session_without_the_password(fresh_node, make_ui) -> None:
    fresh_node.setup_admin()
    ui = make_ui(fresh_node)
    ui.goto("login")
    ui.page.get_by_label("Username").fill("admin")
    ui.page.get_by_label("Password", exact=True).fill(ADMIN_PASSWORD)
    ui.page.get_by_label("Remember me").check()
    ui.page.get_by_test_id("login-submit").click()
    ui.page.wait_for_url("**/scale/nodes")
    stored = ui.page.evaluate("JSON.stringify(Object.assign({}, localStorage))")
    assert ADMIN_PASSWORD not in stored
    assert "8c6976e5" not in stored  # no password hash either
    # A new tab of the same browser profile is still signed in.
    other = ui.context.new_page()
    other.goto(fresh_node.url + "users")
    expect(other.get_by_test_id("users-card")).to_be_visible()
    other.close()
