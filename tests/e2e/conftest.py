"""E2E fixtures: real hy2scale nodes in subprocesses and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import IN_CI, REPO, VENV_BIN, free_port

DIST = REPO / "src" / "hy2scale" / "web" / "dist" / "index.html"
AXE = REPO / "web" / "node_modules" / "axe-core" / "axe.min.js"
RESULTS = REPO / "test-results"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ADMIN_PASSWORD = "e2e-Admin-pass-1"


def _need(ok: bool, message: str) -> None:
    if ok:
        return
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class NodeProc:
    """One `hy2scale run` process on 127.0.0.1 with its own data dir."""

    data: Path
    api_port: int = field(default_factory=free_port)
    hy2_port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None
    token: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}/scale/"

    def start(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        log = (self.data / "node.log").open("ab")
        self.proc = subprocess.Popen(
            [
                str(VENV_BIN / "hy2scale"),
                "run",
                "--data",
                str(self.data),
                "--api",
                f"127.0.0.1:{self.api_port}",
                "--hy2-listen",
                f"127.0.0.1:{self.hy2_port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"node exited: {(self.data / 'node.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}api/build-id", timeout=2):
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.2)
        raise RuntimeError("node did not come up within 30 s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def call(self, method: str, path: str, body: object | None = None) -> object:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.url}api{path}", data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(req, timeout=10) as res:
            raw = res.read()
        return json.loads(raw) if raw else None

    def setup_admin(self) -> None:
        """Log in with the first-run admin/admin and set the test password (skips the forced change)."""
        res = self.call("POST", "/login", {"username": "admin", "password": sha256("admin")})
        self.token = res["token"]  # type: ignore[index]
        self.call(
            "PUT",
            "/settings/password",
            {"current_password": sha256("admin"), "new_password": sha256(ADMIN_PASSWORD)},
        )
        res = self.call("POST", "/login", {"username": "admin", "password": sha256(ADMIN_PASSWORD)})
        self.token = res["token"]  # type: ignore[index]


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    _need(DIST.is_file(), "the UI is not built (run `make ui`)")
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    _need(os.path.exists(chromium), "chromium not installed (Debian package `chromium`)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def _new_node(tmp_path_factory: pytest.TempPathFactory, name: str) -> NodeProc:
    node = NodeProc(tmp_path_factory.mktemp(name))
    node.start()
    return node


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProc]:
    """A node whose admin password is already changed, shared by a module's tests."""
    n = _new_node(tmp_path_factory, "node")
    try:
        n.setup_admin()
        yield n
    finally:
        n.stop()


@pytest.fixture
def fresh_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProc]:
    """A first-run node (admin/admin, forced password change)."""
    n = _new_node(tmp_path_factory, "fresh")
    try:
        yield n
    finally:
        n.stop()


@pytest.fixture(scope="module")
def peer_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProc]:
    n = _new_node(tmp_path_factory, "peer")
    try:
        n.setup_admin()
        yield n
    finally:
        n.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.stash[_FAILED] = report.failed


_FAILED = pytest.StashKey[bool]()


class Ui:
    """A browser context + page for one node, with login and accessibility helpers."""

    def __init__(self, browser: object, node: NodeProc, viewport: dict[str, int]) -> None:
        self.node = node
        self.context = browser.new_context(viewport=viewport, accept_downloads=True, locale="en-US")  # type: ignore[attr-defined]
        self.context.set_default_timeout(15_000)
        self.page = self.context.new_page()
        self.console_errors: list[str] = []
        self.page.on("pageerror", lambda e: self.console_errors.append(str(e)))

    def goto(self, path: str = "") -> None:
        self.page.goto(self.node.url + path)

    def login(self, username: str = "admin", password: str = ADMIN_PASSWORD) -> None:
        self.goto("login")
        self.page.get_by_label("Username").fill(username)
        self.page.get_by_label("Password", exact=True).fill(password)
        self.page.get_by_test_id("login-submit").click()

    def login_as_admin(self) -> None:
        self.login()
        self.page.wait_for_url("**/scale/nodes")

    def open(self, page: str) -> None:
        """Navigate inside the SPA (keeps the session token in sessionStorage)."""
        self.page.evaluate(
            "p => { history.pushState(null, '', window.__BASE__ + '/' + p);"
            " window.dispatchEvent(new Event('hy2scale:navigate')); }",
            page,
        )

    def axe(self) -> list[dict]:
        """Serious or critical axe-core violations on the current page."""
        _need(AXE.is_file(), "axe-core is missing (run `npm ci` in web/)")
        self.page.add_script_tag(path=str(AXE))
        result = self.page.evaluate(
            "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
            ".map(v => ({id: v.id, impact: v.impact, help: v.help,"
            " nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))"
        )
        return [v for v in result if v["impact"] in ("serious", "critical")]

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def make_ui(browser: object, request: pytest.FixtureRequest) -> Iterator:
    made: list[Ui] = []

    def factory(node: NodeProc, width: int = 1280, height: int = 860) -> Ui:
        ui = Ui(browser, node, {"width": width, "height": height})
        made.append(ui)
        return ui

    yield factory
    failed = request.node.stash.get(_FAILED, False)
    for i, ui in enumerate(made):
        if failed:
            RESULTS.mkdir(exist_ok=True)
            try:
                ui.page.screenshot(path=str(RESULTS / f"{request.node.name}-{i}.png"), full_page=True)
            except Exception as exc:  # the screenshot is a debugging aid; never mask the real failure
                print(f"screenshot failed: {exc}")
        ui.close()
