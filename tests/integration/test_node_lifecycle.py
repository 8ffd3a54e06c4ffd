"""The node in-process: effective settings precedence, start/stop on one loop, cert-in-use wiring."""

from __future__ import annotations

import base64
import datetime as dt
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from hy2scale.certs import CertInUse, CertStore
from hy2scale.config_io import ConfigError
from hy2scale.keygen import sha256_hex, verify_admin_secret, wg_public_key
from hy2scale.node import Node, NodeError, NodeOptions, PortInUse, bind_tcp
from hy2scale.store import Store
from tests.conftest import free_port


def _options() -> NodeOptions:
    return NodeOptions(api_listen=f"127.0.0.1:{free_port()}", hy2_listen=f"127.0.0.1:{free_port()}")


def test_flags_beat_store_beat_defaults(tmp_path: Path) -> None:
    node = Node(tmp_path)
    try:
        s = node.settings
        assert (s.api_host, s.api_port, s.base_path, s.hy2_listen) == (
            "0.0.0.0",
            5565,
            "/scale",
            "0.0.0.0:5565",
        )
        node.store.sections.put("ui", {"listen": "127.0.0.2:7000", "base_path": "admin/"})
        node.store.sections.put("server", {**node.store.sections.get("server"), "listen": "127.0.0.3:7001"})
    finally:
        node.close()
    node = Node(tmp_path)
    try:
        s = node.settings
        assert (s.api_listen, s.base_path, s.hy2_listen) == ("127.0.0.2:7000", "/admin", "127.0.0.3:7001")
    finally:
        node.close()
    node = Node(tmp_path, NodeOptions(api_listen="[::1]:7100", hy2_listen="127.0.0.1:7101", base_path="/"))
    try:
        s = node.settings
        assert (s.api_host, s.api_listen, s.base_path, s.hy2_listen) == (
            "::1",
            "[::1]:7100",
            "",
            "127.0.0.1:7101",
        )
    finally:
        node.close()


def test_bad_listen_is_a_node_error(tmp_path: Path) -> None:
    with pytest.raises(NodeError, match="invalid address"):
        Node(tmp_path, NodeOptions(api_listen="127.0.0.1:99999"))
    # The store was closed again and first run already persisted: a second open works.
    Store.open(tmp_path).close()


def test_default_cert_cannot_be_deleted_while_the_server_uses_it(tmp_path: Path) -> None:
    node = Node(tmp_path)
    try:
        with pytest.raises(CertInUse, match="hy2 server"):
            node.certs.delete("default")
        node.certs.generate("p", ["p.example"])
        node.store.proxies.create({"id": "socks5", "listen": "127.0.0.1:1", "tls_cert": "p"})
        with pytest.raises(CertInUse, match="proxy socks5"):
            node.certs.delete("p")
        node.store.proxies.delete("socks5")
        node.certs.delete("p")
    finally:
        node.close()


async def test_start_serves_api_and_stops(tmp_path: Path) -> None:
    node = Node(tmp_path, _options())
    try:
        await node.start()
        url = f"http://{node.settings.api_listen}{node.settings.base_path}/api/login"
        async with httpx.AsyncClient(timeout=10) as client:
            r = await client.post(url, json={"username": "admin", "password": sha256_hex("admin")})
        assert r.status_code == 200, r.text
        await node.stop()
        with pytest.raises(httpx.ConnectError):
            async with httpx.AsyncClient(timeout=5) as client:
                await client.post(url, json={})
    finally:
        await node.stop()
        node.close()


async def test_api_port_in_use_stops_cleanly(tmp_path: Path) -> None:
    options = _options()
    host, port = options.api_listen.split(":")
    with bind_tcp(host, int(port)):
        node = Node(tmp_path, options)
        try:
            with pytest.raises(PortInUse, match="already in use"):
                await node.start()
        finally:
            node.close()
    # Everything started before the API was stopped again: the same ports can be used right away.
    node = Node(tmp_path, options)
    try:
        await node.start()
    finally:
        await node.stop()
        node.close()


def test_first_run_values(tmp_path: Path) -> None:
    node = Node(tmp_path)
    try:
        me, server = node.store.sections.get("node"), node.store.sections.get("server")
        wireguard, admin = node.store.sections.get("wireguard"), node.store.admin.get()
        default = node.certs.info("default")
        cert_pem = node.certs.cert_pem("default")
    finally:
        node.close()
    assert re.fullmatch(r"[0-9a-f]{8}", me["node_id"]) and me["name"] == me["node_id"] and me["exit_node"]
    assert re.fullmatch(r"[0-9a-f]{24}", server["password"])
    assert server["listen"] == "0.0.0.0:5565" and server["enabled"] is True
    assert server["tls_cert"] == default["cert_file"] and server["tls_key"] == default["key_file"]
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    assert default["subject"] == me["node_id"] and default["name"] == "Default"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [me["node_id"]]
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert abs(lifetime - dt.timedelta(days=3650)) < dt.timedelta(hours=1)
    public = wg_public_key(wireguard["private_key"])  # valid X25519 key in wg's base64 form
    assert len(base64.b64decode(public)) == 32
    assert wireguard["listen_port"] == 51820 and wireguard["address"] == "10.0.0.1/24"
    assert admin["username"] == "admin" and admin["force_password_change"] is True
    assert admin["password_hash"].startswith("$argon2id$")
    assert verify_admin_secret(admin["password_hash"], sha256_hex("admin"))
    wg = shutil.which("wg")
    if wg:  # the reference implementation of the key derivation, when installed
        out = subprocess.run([wg, "pubkey"], input=wireguard["private_key"], capture_output=True, text=True)
        assert out.stdout.strip() == public


def test_adopts_an_original_data_dir_once(tmp_path: Path) -> None:
    fixture = (Path(__file__).resolve().parent.parent / "fixtures" / "original_config.yaml").read_text()
    config = tmp_path / "config.yaml"
    config.write_text(fixture.replace("node_id: ea1b2adb", 'node_id: ""'))
    (tmp_path / "node-id").write_text("cafe0001")
    CertStore(tmp_path / "tls").generate("default", ["cafe0001"], name="Default", days=3650)
    cert_before = (tmp_path / "tls" / "default.crt").read_bytes()
    node = Node(tmp_path)
    try:
        assert node.node_id == "cafe0001"  # from the node-id file, as the original does
        assert [u["username"] for u in node.store.users.list()] == ["alice", "bob"]
        assert node.store.sections.get("server")["tls_cert"] == str(tmp_path / "tls" / "default.crt")
        assert node.store.admin.get()["username"] == "root"
    finally:
        node.close()
    assert (tmp_path / "tls" / "default.crt").read_bytes() == cert_before
    assert config.read_text() == fixture.replace("node_id: ea1b2adb", 'node_id: ""')
    # Adopted once: later edits of the original file do not overwrite the store.
    config.write_text("node_id: other\nusers: []\n")
    node = Node(tmp_path)
    try:
        assert node.node_id == "cafe0001" and node.store.users.count() == 2
    finally:
        node.close()


def test_an_original_config_that_cannot_be_adopted_stops_the_start(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("node_id: x\nusers: {not: a list}\n")
    with pytest.raises(ConfigError, match=r"config\.yaml: users must be a list"):
        Node(tmp_path)
    assert config.read_text() == "node_id: x\nusers: {not: a list}\n"
    config.write_text("node_id: abcd0123\nusers: []\n")
    node = Node(tmp_path)  # fixed file: adopted on the next start
    try:
        assert node.node_id == "abcd0123"
    finally:
        node.close()
