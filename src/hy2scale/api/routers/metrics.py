"""Prometheus exposition of the node's live figures: relay traffic, peers, users, devices, services.

Scrape ``{base}/api/metrics`` with an API token (``Authorization: Bearer …``). Values are read
from the live parts at scrape time; nothing is cached or counted twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Depends, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from hy2scale import __version__
from hy2scale.api.deps import get_node

router = APIRouter(tags=["metrics"])


class NodeCollector:
    """A prometheus_client collector over one node; each scrape reads the parts afresh."""

    def __init__(self, node: Any) -> None:
        self.node = node

    def collect(self) -> Iterator[Metric]:
        node_section = self.node.store.sections.get("node")
        info = InfoMetricFamily("hy2scale", "This node")
        info.add_metric(
            [],
            {
                "version": __version__,
                "node_id": node_section.get("node_id", ""),
                "name": node_section.get("name", ""),
            },
        )
        yield info
        yield from self._relay()
        yield from self._users()
        yield from self._devices()
        yield from self._services()

    def _relay(self) -> Iterator[Metric]:
        relay = getattr(self.node, "relay", None)
        if relay is None:
            return
        stats = relay.stats()
        tx = CounterMetricFamily("hy2scale_relay_bytes", "Bytes carried by the node", labels=["direction"])
        tx.add_metric(["tx"], stats["tx_bytes"])
        tx.add_metric(["rx"], stats["rx_bytes"])
        yield tx
        rate = GaugeMetricFamily(
            "hy2scale_relay_rate_bytes_per_second", "Last 1 s rate", labels=["direction"]
        )
        rate.add_metric(["tx"], stats["tx_rate"])
        rate.add_metric(["rx"], stats["rx_rate"])
        yield rate
        yield GaugeMetricFamily(
            "hy2scale_relay_connections", "Open relayed connections", value=stats["conns"]
        )
        up = GaugeMetricFamily(
            "hy2scale_peer_up", "1 when the peer link is usable", labels=["peer", "direction"]
        )
        latency = GaugeMetricFamily("hy2scale_peer_latency_ms", "Last measured latency", labels=["peer"])
        peer_bytes = CounterMetricFamily(
            "hy2scale_peer_bytes", "Bytes to/from a peer", labels=["peer", "direction"]
        )
        for peer in relay.peer_health():
            name = peer["name"]
            up.add_metric([name, peer["direction"]], 1.0 if relay.connected(name) else 0.0)
            if peer["latency_ms"] is not None and peer["latency_ms"] >= 0:
                latency.add_metric([name], peer["latency_ms"])
            peer_bytes.add_metric([name, "tx"], peer["tx"])
            peer_bytes.add_metric([name, "rx"], peer["rx"])
        yield up
        yield latency
        yield peer_bytes

    def _users(self) -> Iterator[Metric]:
        accounts = getattr(self.node, "accounts", None)
        if accounts is None:
            return
        used = GaugeMetricFamily("hy2scale_user_traffic_bytes", "Traffic used (tx+rx)", labels=["user"])
        limit = GaugeMetricFamily(
            "hy2scale_user_traffic_limit_bytes", "Traffic limit, 0 = none", labels=["user"]
        )
        enabled = GaugeMetricFamily("hy2scale_user_enabled", "1 when the user is enabled", labels=["user"])
        for user in accounts.users():
            used.add_metric([user.username], accounts.traffic_used(user.id))
            limit.add_metric([user.username], user.traffic_limit)
            enabled.add_metric([user.username], 1.0 if user.enabled else 0.0)
        yield used
        yield limit
        yield enabled

    def _devices(self) -> Iterator[Metric]:
        accounts = getattr(self.node, "accounts", None)
        if accounts is None:
            return
        devices = GaugeMetricFamily("hy2scale_devices", "Connected devices", labels=["protocol"])
        conns = GaugeMetricFamily(
            "hy2scale_device_connections", "Open connections of devices", labels=["protocol"]
        )
        per_protocol: dict[str, list[int]] = {}
        for device in accounts.sessions():
            entry = per_protocol.setdefault(device["protocol"], [0, 0])
            entry[0] += 1
            entry[1] += device["conn_count"]
        for protocol, (count, open_conns) in sorted(per_protocol.items()):
            devices.add_metric([protocol], count)
            conns.add_metric([protocol], open_conns)
        yield devices
        yield conns

    def _services(self) -> Iterator[Metric]:
        services = getattr(self.node, "services", None)
        if services is None:
            return
        up = GaugeMetricFamily("hy2scale_service_up", "1 when the service listens", labels=["service"])
        for service_id, state in sorted(services.status().items()):
            up.add_metric([service_id], 1.0 if state.get("running") else 0.0)
        yield up


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}},
)
def metrics(node: Any = Depends(get_node)) -> Response:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(NodeCollector(node))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
