"""Against a real `hy2scale run` process: restore keeps it running and is durable; a proxy PUT hot-reloads."""

from __future__ import annotations

import hashlib
import time

import httpx

from tests.conftest import free_port
from tests.fixtures.node_process import NodeProcess


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _login(http: httpx.Client, password: str) -> None:
    r = http.post("/api/login", json={"username": "admin", "password": sha(password)})
    assert r.status_code == 200, r.text
    http.headers["Authorization"] = f"Bearer {r.json()['token']}"


def test_restore_in_a_running_node_and_after_restart(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    node = NodeProcess(data)
    with node, httpx.Client(base_url=node.base, timeout=30) as http:
        _login(http, "admin")
        r = http.put(
            "/api/settings/password", json={"current_password": sha("admin"), "new_password": sha("pw-1")}
        )
        assert r.status_code == 200, r.text
        _login(http, "pw-1")
        assert http.post("/api/users", json={"username": "bob", "password": "bob-pw-1"}).status_code == 200
        assert (
            http.post("/api/tls/generate", json={"id": "keep", "domains": ["keep.example"]}).status_code
            == 200
        )
        archive = http.get("/api/backup").content

        users = http.get("/api/users").json()
        assert http.delete(f"/api/users/{users[0]['id']}").status_code == 200
        assert http.delete("/api/tls/keep").status_code == 200
        assert http.get("/api/users").json() == []

        r = http.post("/api/restore", content=archive, headers={"Content-Type": "application/gzip"})
        assert r.status_code == 200, r.text
        # Same process, still serving, with the restored data.
        assert node.proc.poll() is None
        assert [u["username"] for u in http.get("/api/users").json()] == ["bob"]
        assert "keep" in {c["id"] for c in http.get("/api/tls").json()}
        assert node.stop() == 0

    node = NodeProcess(data)
    with node, httpx.Client(base_url=node.base, timeout=30) as http:
        _login(http, "pw-1")
        assert [u["username"] for u in http.get("/api/users").json()] == ["bob"]
        assert "keep" in {c["id"] for c in http.get("/api/tls").json()}
        assert node.stop() == 0


def _port_free(http: httpx.Client, port: int) -> bool:
    r = http.post("/api/check-ports", json={"ports": [port]})
    assert r.status_code == 200, r.text
    return r.json()["results"][str(port)]


def _wait_port(http: httpx.Client, port: int, free: bool) -> None:
    deadline = time.monotonic() + 10
    while _port_free(http, port) != free:
        assert time.monotonic() < deadline, f"port {port} never became {'free' if free else 'busy'}"
        time.sleep(0.1)


def test_proxy_changes_reach_the_running_service(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    port = free_port()
    node = NodeProcess(data)
    with node, httpx.Client(base_url=node.base, timeout=30) as http:
        _login(http, "admin")
        r = http.put(
            "/api/settings/password", json={"current_password": sha("admin"), "new_password": sha("pw-2")}
        )
        assert r.status_code == 200, r.text
        _login(http, "pw-2")
        assert _port_free(http, port)
        body = {"id": "s5", "protocol": "socks5", "listen": f"127.0.0.1:{port}", "enabled": True}
        assert http.post("/api/proxies", json=body).status_code == 200
        _wait_port(http, port, free=False)  # the services part started the listener
        assert http.put("/api/proxies/s5", json={**body, "enabled": False}).status_code == 200
        _wait_port(http, port, free=True)
        assert node.stop() == 0
