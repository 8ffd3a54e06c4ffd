"""GET /api/node and the share URL report the hy2 listen in use when --hy2-listen overrides the store."""

from __future__ import annotations

import pytest

from hy2scale.hysteria import parse_uri
from hy2scale.node import NodeOptions
from tests.integration.api_a_support import BASE, api_client, api_token, make_node


@pytest.fixture
def node(tmp_path):
    n = make_node(tmp_path)
    n.store.sections.put("server", {**n.store.sections.get("server"), "listen": "0.0.0.0:5565"})
    yield n
    n.store.close()


async def test_flag_overrides_stored_listen(node):
    node.options = NodeOptions(hy2_listen="127.0.0.1:7443")
    async with api_client(node) as client:
        api_token(client)
        server = (await client.get(f"{BASE}/node")).json()["server"]
        assert (server["listen"], server["listen_configured"]) == ("127.0.0.1:7443", "0.0.0.0:5565")
        r = await client.get(f"{BASE}/node/share-url", params={"host": "example.com"})
        link = parse_uri(r.json()["url"])
        assert (link.host, link.ports) == ("example.com", "7443")


async def test_without_flag_stored_listen_is_in_use(node):
    async with api_client(node) as client:
        api_token(client)
        server = (await client.get(f"{BASE}/node")).json()["server"]
        assert (server["listen"], server["listen_configured"]) == ("0.0.0.0:5565", "0.0.0.0:5565")
        r = await client.get(f"{BASE}/node/share-url", params={"host": "example.com"})
        assert parse_uri(r.json()["url"]).ports == "5565"
