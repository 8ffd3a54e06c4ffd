"""TLS store endpoints: generate (leaf and CA), sign, import text and paths, PEM, delete with in-use refusal."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.integration.api_a_support import BASE


async def test_generate_ca_sign_and_verify_chain(client):
    r = await client.post(
        f"{BASE}/tls/generate", json={"id": "root", "domains": ["Test Root"], "is_ca": True, "days": 30}
    )
    assert r.status_code == 200, r.text
    assert r.json()["is_ca"] is True and r.json()["subject"] == "Test Root"
    assert client.node.published[-1] == "tls"
    r = await client.post(f"{BASE}/tls/sign", json={"ca_id": "root", "id": "vpn", "cn": "vpn.example.com"})
    assert r.status_code == 200, r.text
    info = r.json()
    assert info["issuer"] == "Test Root" and info["ca_parent_id"] == "root" and info["is_ca"] is False

    leaf_pem = (await client.get(f"{BASE}/tls/vpn/pem")).text
    assert "PRIVATE KEY" not in leaf_pem
    root_pem = (await client.get(f"{BASE}/tls/root/pem")).text
    leaf = x509.load_pem_x509_certificate(leaf_pem.encode())
    root = x509.load_pem_x509_certificate(root_pem.encode())
    # The CA's key really signed the leaf.
    root.public_key().verify(
        leaf.signature, leaf.tbs_certificate_bytes, ec.ECDSA(leaf.signature_hash_algorithm)
    )
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["vpn.example.com"]

    ids = [c["id"] for c in (await client.get(f"{BASE}/tls")).json()]
    assert ids == ["root", "vpn"]
    # Signing with a leaf, an unknown CA, or onto an existing id is refused.
    assert (
        await client.post(f"{BASE}/tls/sign", json={"ca_id": "vpn", "id": "x", "cn": "x"})
    ).status_code == 400
    assert (
        await client.post(f"{BASE}/tls/sign", json={"ca_id": "nope", "id": "x", "cn": "x"})
    ).status_code == 404
    assert (
        await client.post(f"{BASE}/tls/sign", json={"ca_id": "root", "id": "vpn", "cn": "x"})
    ).status_code == 409
    r = await client.post(
        f"{BASE}/tls/sign", json={"ca_id": "root", "id": "vpn", "cn": "y", "overwrite": True}
    )
    assert r.status_code == 200 and r.json()["subject"] == "y"


async def test_import_text_and_paths(client, tmp_path):
    other = ec.generate_private_key(ec.SECP256R1())
    r = await client.post(f"{BASE}/tls/generate", json={"id": "src", "domains": ["a.example", "127.0.0.1"]})
    assert r.status_code == 200
    cert_pem = (await client.get(f"{BASE}/tls/src/pem")).text
    key_pem = (tmp_path / "tls" / "src.key").read_text()
    r = await client.post(
        f"{BASE}/tls/import", json={"id": "copy", "name": "Copy", "cert": cert_pem, "key": key_pem}
    )
    assert r.status_code == 200 and r.json()["name"] == "Copy" and r.json()["key_file"]
    wrong_key = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    r = await client.post(f"{BASE}/tls/import", json={"id": "bad", "cert": cert_pem, "key": wrong_key})
    assert r.status_code == 400 and "match" in r.json()["error"]
    assert (await client.post(f"{BASE}/tls/import", json={"id": "bad", "cert": "garbage"})).status_code == 400
    assert (
        await client.post(f"{BASE}/tls/import", json={"id": "../etc", "cert": cert_pem})
    ).status_code == 422

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "c.pem").write_text(cert_pem)
    (outside / "k.pem").write_text(key_pem)
    r = await client.post(
        f"{BASE}/tls/import-path",
        json={"id": "frompath", "cert_path": str(outside / "c.pem"), "key_path": str(outside / "k.pem")},
    )
    assert r.status_code == 200 and r.json()["subject"] == "a.example"
    r = await client.post(
        f"{BASE}/tls/import-path", json={"id": "nofile", "cert_path": str(outside / "missing")}
    )
    assert r.status_code == 400 and "cannot read" in r.json()["error"]
    r = await client.post(f"{BASE}/tls/import-path", json={"id": "dev", "cert_path": "/dev/zero"})
    assert r.status_code == 400 and "regular file" in r.json()["error"]


async def test_pem_and_delete(client):
    await client.post(f"{BASE}/tls/generate", json={"id": "leaf", "domains": ["leaf.example"]})
    r = await client.get(f"{BASE}/tls/leaf/pem")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert r.text.startswith("-----BEGIN CERTIFICATE-----")
    assert (await client.get(f"{BASE}/tls/ghost/pem")).status_code == 404
    assert (await client.get(f"{BASE}/tls/..%2Fhy2scale.db/pem")).status_code in (400, 404)

    # In use by a proxy → 409; once the proxy is gone, the delete works.
    r = await client.post(
        f"{BASE}/proxies", json={"id": "tlsproxy", "listen": "127.0.0.1:1", "tls_cert": "leaf"}
    )
    assert r.status_code == 200, r.text
    r = await client.delete(f"{BASE}/tls/leaf")
    assert r.status_code == 409 and "proxy tlsproxy" in r.json()["error"]
    listed = {c["id"]: c for c in (await client.get(f"{BASE}/tls")).json()}
    assert listed["leaf"]["used_by"] == "proxy tlsproxy"
    await client.delete(f"{BASE}/proxies/tlsproxy")
    assert (await client.delete(f"{BASE}/tls/leaf")).status_code == 200
    assert (await client.delete(f"{BASE}/tls/leaf")).status_code == 404


async def test_cert_used_by_hy2_server_cannot_be_deleted(client):
    await client.post(f"{BASE}/tls/generate", json={"id": "server", "domains": ["node.example"]})
    store = client.node.store
    tls = store.path.parent / "tls"
    store.sections.put(
        "server",
        {
            **store.sections.get("server"),
            "tls_cert": str(tls / "server.crt"),
            "tls_key": str(tls / "server.key"),
        },
    )
    r = await client.delete(f"{BASE}/tls/server")
    assert r.status_code == 409 and "hy2 server" in r.json()["error"]
    await client.post(f"{BASE}/tls/generate", json={"id": "vpnca", "domains": ["VPN CA"], "is_ca": True})
    store.sections.put("ikev2", {**store.sections.get("ikev2"), "cert_id": "vpnca"})
    r = await client.delete(f"{BASE}/tls/vpnca")
    assert r.status_code == 409 and "IKEv2" in r.json()["error"]
