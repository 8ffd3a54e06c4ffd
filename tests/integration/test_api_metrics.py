"""GET /api/metrics: Prometheus text with live figures of users, devices and services; auth required."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from hy2scale.accounts import Accounts
from hy2scale.relay.exits import ExitRoute
from tests.integration.api_a_support import BASE, admin_token, api_client, make_node
from tests.integration.test_relay_hy2_links import _chain, hnet  # noqa: F401  (fixture)
from tests.integration.test_relay_mesh_memory import Echo, roundtrip


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


class _Services:
    def status(self) -> dict[str, dict]:
        return {"socks5": {"running": True, "error": ""}, "http": {"running": False, "error": "port busy"}}


async def test_metrics_report_live_user_traffic_devices_and_services(tmp_path) -> None:
    node = make_node(tmp_path)
    node.store.users.create(
        {"id": "u1", "username": "alice", "password": "alice-pass-1", "enabled": True, "traffic_limit": 5000}
    )
    node.accounts = Accounts(node)
    node.services = _Services()
    conn = node.accounts.open_connection(node.accounts.users()[0], "127.0.0.9", "socks5")
    conn.add_tx(1200)
    conn.add_rx(34)
    async with api_client(node) as client:
        r = await client.get(f"{BASE}/metrics")
        assert r.status_code == 401
        await admin_token(client)
        r = await client.get(f"{BASE}/metrics")
    conn.close()
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    samples = _samples(r.text)
    assert samples[("hy2scale_user_traffic_bytes", (("user", "alice"),))] == 1234
    assert samples[("hy2scale_user_traffic_limit_bytes", (("user", "alice"),))] == 5000
    assert samples[("hy2scale_devices", (("protocol", "socks5"),))] == 1
    assert samples[("hy2scale_device_connections", (("protocol", "socks5"),))] == 1
    assert samples[("hy2scale_service_up", (("service", "socks5"),))] == 1
    assert samples[("hy2scale_service_up", (("service", "http"),))] == 0
    info = next(k for k in samples if k[0] == "hy2scale_info")
    assert ("node_id", "ab12cd34") in info[1]


async def test_metrics_report_peers_and_relay_traffic(hnet) -> None:  # noqa: F811  (the imported fixture)
    a, _b, _c = await _chain(hnet)
    echo = Echo()
    port = await echo.start()
    try:
        stream = await a.exits.open_tcp(ExitRoute(exit_via="b"), "127.0.0.1", port)
        assert await roundtrip(stream, b"x" * 5000) == b"x" * 5000
    finally:
        echo.close()
    node = a.node
    node.relay = a
    async with api_client(node) as client:
        await admin_token(client)
        r = await client.get(f"{BASE}/metrics")
    assert r.status_code == 200
    samples = _samples(r.text)
    assert samples[("hy2scale_peer_up", (("direction", "outbound"), ("peer", "b")))] == 1
    assert samples[("hy2scale_peer_bytes_total", (("direction", "tx"), ("peer", "b")))] >= 5000
    assert samples[("hy2scale_relay_bytes_total", (("direction", "tx"),))] >= 5000
