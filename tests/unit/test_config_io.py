"""YAML export/import: lossless round trip, the original config.yaml mapped field by field, all-or-nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hy2scale.certs import CertStore
from hy2scale.config_io import ConfigError, export_config, export_yaml, import_yaml
from hy2scale.firstrun import ensure_first_run
from hy2scale.keygen import verify_admin_secret
from hy2scale.store import SECTION_NAMES, Store

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "original_config.yaml"


@pytest.fixture
def node(tmp_path: Path):
    data = tmp_path / "a"
    data.mkdir()
    store = Store.open(data)
    certs = CertStore(data / "tls")
    ensure_first_run(store, certs)
    yield store, certs
    store.close()


@pytest.fixture
def other(tmp_path: Path):
    data = tmp_path / "b"
    data.mkdir()
    store = Store.open(data)
    certs = CertStore(data / "tls")
    yield store, certs
    store.close()


def _populate(store: Store, certs: CertStore) -> None:
    certs.generate("ca", ["Root"], is_ca=True)
    certs.sign("ca", "svc", "svc.example")
    certs.import_pem("nokey", certs.cert_pem("ca"), name="CA only")
    store.sections.put("ui", {**store.sections.get("ui"), "dns": "9.9.9.9", "session_timeout_h": 3})
    store.sections.put("graph_layout", {"self": {"x": 1.25, "y": -3}})
    store.sections.put("shadowsocks", {"listen": "0.0.0.0:8388", "enabled": True, "method": "aes-128-gcm"})
    store.clients.create(
        {"name": "us", "addr": "us.example:5565", "addrs": ["us.example:5565"], "password": "p"}
    )
    store.peer_flags.create({"path": "us/x", "nested": True, "disabled": False})
    store.users.create(
        {"id": "u1", "username": "alice", "password": "pw", "proxy_passwords": {"ss": "x"}, "enabled": True}
    )
    store.users.add_traffic({"u1": (1000, 24)})
    store.proxies.create({"id": "socks5", "protocol": "socks5", "listen": ":1080", "tls_cert": "svc"})
    store.wg_peers.create({"name": "phone", "public_key": "pk", "allowed_ips": "10.0.0.2/32"})
    store.rules.create({"id": "r1", "type": "domain", "targets": ["example.com"], "priority": 2})
    store.api_tokens.create({"id": "t1", "token_hash": "abc", "name": "ci"})
    store.api_sessions.create({"token_hash": "s1", "expires_at": 1e12})


def test_round_trip_is_lossless(node, other) -> None:
    store, certs = node
    _populate(store, certs)
    text = export_yaml(store, certs)
    assert import_yaml(other[0], other[1], text) == "hydscale".replace("d", "2")
    assert export_yaml(*other) == text
    assert export_config(*other) == export_config(store, certs)
    assert other[1].key_pem("svc") == certs.key_pem("svc")
    assert other[1].info("svc")["ca_parent_id"] == "ca"
    assert other[1].key_pem("nokey") is None
    # Sessions are runtime state: never exported, and an import ends them.
    assert "api_sessions" not in yaml.safe_load(text)
    import_yaml(store, certs, text)
    assert store.api_sessions.list() == []


def test_original_config_maps_every_field(node) -> None:
    store, certs = node
    wg_key_before = store.sections.get("wireguard")["private_key"]
    assert import_yaml(store, certs, FIXTURE.read_text()) == "original hy2scale"
    s = store.sections
    assert s.get("node") == {
        "node_id": "ea1b2adb",
        "name": "sg-home",
        "exit_node": False,
        "hy2_user_auth": True,
    }
    server = s.get("server")
    assert server["enabled"] is True and server["listen"] == "0.0.0.0:6565,7000-7010"
    assert server["password"] == "0123456789abcdef01234567"
    assert server["tls_cert"] == str(certs.dir / "default.crt")  # /data/tls/... re-rooted in our store
    assert server["tls_key"] == str(certs.dir / "default.key")

    clients = store.clients.list()
    assert [c["name"] for c in clients] == ["us", "jp"]
    us = clients[0]
    for key, value in {
        "addr": "us.example.net:5565",
        "addrs": ["us.example.net:5565", "203.0.113.7:5565"],
        "password": "us-secret-pw",
        "sni": "us.example.net",
        "insecure": True,
        "max_tx": 12500000,
        "max_rx": 25000000,
        "init_stream_window": 8388608,
        "max_stream_window": 16777216,
        "init_conn_window": 20971520,
        "max_conn_window": 41943040,
        "fast_open": True,
        "bbr_profile": "aggressive",
        "disabled": True,
    }.items():
        assert us[key] == value, key
    assert us["ca"].startswith("-----BEGIN CERTIFICATE-----")
    assert clients[1]["addr"] == "[2001:db8::1]:443"

    assert store.peer_flags.list() == [
        {"path": "us", "nested": True, "disabled": False},
        {"path": "us/us-east", "nested": False, "disabled": True},
    ]

    alice = store.users.find("username", "alice")
    assert alice == {
        "id": "a1b2c3d4",
        "username": "alice",
        "password": "alice-pw",
        "proxy_passwords": {"hy2": "alice-hy2", "ss": "alice-ss"},
        "proxy_disabled": ["l2tp", "ikev2"],
        "exit_via": "us/us-east",
        "exit_paths": ["us/us-east", "jp"],
        "exit_mode": "quality",
        "traffic_limit": 107374182400,
        "traffic_used": 123456789,
        "expiry_date": "2027-01-31",
        "enabled": True,
    }
    bob = store.users.get("0badf00d")
    assert bob["proxy_passwords"] == {} and bob["exit_paths"] == [] and bob["expiry_date"] == ""
    assert bob["enabled"] is False

    socks, http = store.proxies.list()
    assert socks == {
        "id": "socks5",
        "protocol": "socks5",
        "listen": "0.0.0.0:1080",
        "enabled": True,
        "tls_cert": "proxy-cert",
        "exit_via": "us",
        "exit_paths": ["us"],
        "exit_mode": "aggregate",
    }
    assert http["protocol"] == "http" and http["enabled"] is False and http["exit_paths"] == []

    assert s.get("shadowsocks") == {
        "listen": "0.0.0.0:8388",
        "enabled": True,
        "method": "chacha20-ietf-poly1305",
        "psk": "",
    }
    assert s.get("l2tp") == {
        "listen": "1702",
        "enabled": True,
        "pool": "192.168.30.1/24",
        "psk": "l2tp-psk",
        "proxy_port": 12346,
        "mtu": 1300,
    }
    assert s.get("ikev2") == {
        "enabled": True,
        "mode": "psk",
        "pool": "192.168.31.1/24",
        "cert_id": "myca",
        "psk": "ike-psk",
        "local_id": "vpn.example.net",
        "remote_id": "client.example.net",
        "psk_user_mode": True,
        "default_exit": "jp",
        "default_exit_mode": "quality",
        "dns": "9.9.9.9",
        "proxy_port": 12351,
        "mtu": 1380,
    }
    wireguard = s.get("wireguard")
    assert wireguard == {
        "enabled": True,
        "listen_port": 51821,
        "private_key": "WHDvz5SYCjTdNYZpHqZ8DWLKIN/GtEzPqDlbmNDSsGw=",
        "address": "10.9.0.1/24",
        "dns": "1.0.0.1",
        "mtu": 1380,
    }
    assert wireguard["private_key"] != wg_key_before
    phone, laptop = store.wg_peers.list()
    assert phone == {
        "name": "phone",
        "public_key": "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=",
        "private_key": "0N6Ud0nPmW0uNGcjh4I8rVjS7rSHz9RxaXb6Zw2MxUA=",
        "allowed_ips": "10.9.0.2/32",
        "keepalive": 25,
        "exit_via": "us",
        "exit_paths": ["us"],
        "exit_mode": "quality",
    }
    assert laptop["exit_paths"] == [] and laptop["keepalive"] == 0

    office, streaming = store.rules.list()
    assert office == {
        "id": "ip-abc",
        "name": "office",
        "type": "ip",
        "targets": ["10.20.0.0/16", "192.0.2.1-192.0.2.9"],
        "exit_via": "us",
        "exit_paths": ["us"],
        "exit_mode": "quality",
        "enabled": True,
        "priority": 7,
        "use_tun": True,  # legacy tun_mode.enabled migrated onto ip rules
    }
    assert streaming["type"] == "domain" and streaming["use_tun"] is True and streaming["priority"] == 0
    assert s.get("tun_mode") == {"enabled": True, "mode": "full"}

    assert s.get("ui") == {
        "listen": "0.0.0.0:6000",
        "base_path": "/admin",
        "dns": "8.8.4.4,1.1.1.1",
        "force_https": True,
        "https_cert_id": "web-cert",
        "session_timeout_h": 24,
        "max_nested_depth": 7,
        "max_response_nodes": 2048,
        "max_cache_entries": 6000,
        "max_response_bytes": 2097152,
        "max_fetch_fan_out": 16,
    }
    admin = store.admin.get()
    assert admin["username"] == "root" and admin["force_password_change"] is False
    assert verify_admin_secret(
        admin["password_hash"], "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"
    )
    assert s.get("graph_layout") == {"self": {"x": 10.5, "y": -20}, "us": {"x": 300, "y": 40.25}}
    assert s.get("relay_admin") == {"passthrough": True}
    assert s.get("dns_resolver") == {
        "enabled": False,
        "cache_ttl": 600,
        "negative_ttl": 60,
        "cache_size": 4096,
        "query_timeout_ms": 2500,
    }


def test_minimal_original_gets_defaults(node) -> None:
    store, certs = node
    node_id = store.sections.get("node")["node_id"]
    import_yaml(store, certs, "node_id: ''\nserver: null\nclients: []\nusers: []\npeers: {}\n")
    assert store.sections.get("node")["node_id"] == node_id  # an empty id keeps ours
    assert store.sections.get("server")["enabled"] is False
    admin = store.admin.get()
    assert admin["username"] == "admin" and admin["force_password_change"] is True
    assert store.sections.get("dns_resolver")["enabled"] is True


def test_unquoted_numbers_in_text_fields_become_text(node) -> None:
    store, certs = node
    import_yaml(
        store, certs, "node_id: x\nusers:\n  - {id: 1234, username: 42, password: 123456, enabled: true}\n"
    )
    user = store.users.get("1234")
    assert user is not None
    assert (user["username"], user["password"]) == ("42", "123456")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("users: [\n  - id: x\n", "malformed YAML at line"),
        ("- just\n- a list\n", "top level must be a mapping"),
        ("hello: world\n", "not a hy2scale configuration"),
        ("node_id: x\nsurprise: 1\n", "unknown keys"),
        (
            "node_id: x\nusers:\n  - {id: a, username: u, password: p}\n  - {id: b, username: u, password: q}\n",
            "duplicate username",
        ),
        (
            "node_id: x\nusers:\n  - {id: a, username: u, password: p, traffic_limit: 1.5}\n",
            "must be an integer",
        ),
        ("node_id: x\nexit_node: maybe\n", "exit_node must be true or false"),
        ("hy2scale_config: 2\n", "unsupported"),
        ("hy2scale_config: 1\nrules:\n  - {name: no-id}\n", r"rules\[0\].id is required"),
        ("hy2scale_config: 1\ntls:\n  x: {cert: 'not pem'}\n", "tls.x"),
    ],
)
def test_bad_files_change_nothing(node, text: str, message: str) -> None:
    store, certs = node
    _populate(store, certs)
    before = export_yaml(store, certs)
    files_before = sorted(p.name for p in certs.dir.iterdir())
    with pytest.raises(ConfigError, match=message):
        import_yaml(store, certs, text)
    assert export_yaml(store, certs) == before
    assert sorted(p.name for p in certs.dir.iterdir()) == files_before


def test_failure_inside_the_transaction_rolls_back(node, other) -> None:
    store, certs = node
    _populate(store, certs)
    doc = export_config(store, certs)
    doc["users"].append({**doc["users"][0], "id": "u2"})  # same username: the store's unique index refuses
    before = export_yaml(*other)
    with pytest.raises(ConfigError, match="cannot store"):
        import_yaml(other[0], other[1], yaml.safe_dump(doc))
    assert export_yaml(*other) == before
    assert not other[1].exists("svc")


def test_export_covers_every_section(node) -> None:
    doc = export_config(*node)
    assert set(doc["sections"]) == SECTION_NAMES
