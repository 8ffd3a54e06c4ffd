"""TLS store: generate (leaf and CA), sign with a CA, import, list, PEM, delete, id checks.

Results are verified with ``cryptography`` itself: chains validate, SANs and key usage are right, keys match.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import PolicyBuilder, Store

from hy2scale.certs import CertError, CertInUse, CertNotFound, CertStore


@pytest.fixture
def certs(tmp_path: Path) -> CertStore:
    return CertStore(tmp_path / "tls")


def _cert(certs: CertStore, cert_id: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(certs.cert_pem(cert_id).encode())


def _key(certs: CertStore, cert_id: str):
    return serialization.load_pem_private_key(certs.key_pem(cert_id).encode(), None)


def _pub(k) -> bytes:
    return k.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _verify_server(leaf: x509.Certificate, roots: list[x509.Certificate], host: str) -> None:
    try:
        subject: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        subject = x509.DNSName(host)
    verifier = (
        PolicyBuilder().store(Store(roots)).time(dt.datetime.now(dt.UTC)).build_server_verifier(subject)
    )
    verifier.verify(leaf, [])


def test_generate_leaf(certs: CertStore) -> None:
    info = certs.generate("web", ["example.org", "www.example.org", "127.0.0.1"], days=30)
    cert = _cert(certs, "web")
    key = _key(certs, "web")
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    assert certs.key_pem("web").startswith("-----BEGIN EC PRIVATE KEY-----")
    assert _pub(key.public_key()) == _pub(cert.public_key())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["example.org", "www.example.org"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert (
        ExtendedKeyUsageOID.SERVER_AUTH
        in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    )
    assert info["subject"] == info["issuer"] == "example.org"
    assert info["is_ca"] is False and info["name"] == "web"
    expected = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).strftime("%Y-%m-%d")
    assert info["not_after"] == expected
    assert stat.S_IMODE(certs.key_path("web").stat().st_mode) == 0o600
    assert info["key_file"] == str(certs.key_path("web").resolve())
    # A self-signed leaf validates against itself as the trust anchor for each of its names.
    for host in ("example.org", "www.example.org", "127.0.0.1"):
        _verify_server(cert, [cert], host)


def test_generate_ca_then_sign_a_chain_that_validates(certs: CertStore) -> None:
    ca = certs.generate("myca", ["My Root"], is_ca=True, name="Root", days=3650)
    assert ca["is_ca"] is True and ca["name"] == "Root"
    ca_cert = _cert(certs, "myca")
    usage = ca_cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign

    leaf_info = certs.sign("myca", "svc", "svc.example.net")
    assert leaf_info["ca_parent_id"] == "myca"
    assert leaf_info["issuer"] == "My Root" and leaf_info["subject"] == "svc.example.net"
    assert leaf_info["name"] == "svc.example.net"
    leaf = _cert(certs, "svc")
    key = _key(certs, "svc")
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048
    assert certs.key_pem("svc").startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert _pub(key.public_key()) == _pub(leaf.public_key())
    leaf.verify_directly_issued_by(ca_cert)
    _verify_server(leaf, [ca_cert], "svc.example.net")
    with pytest.raises(x509.verification.VerificationError):
        _verify_server(leaf, [ca_cert], "other.example.net")


def test_sign_refuses_a_non_ca_and_a_ca_without_key(certs: CertStore, tmp_path: Path) -> None:
    certs.generate("leaf", ["a.example"])
    with pytest.raises(CertError, match="not a CA"):
        certs.sign("leaf", "x", "x.example")
    certs.generate("ca", ["CA"], is_ca=True)
    certs.import_pem("ca-nokey", certs.cert_pem("ca"))
    with pytest.raises(CertError, match="key not found"):
        certs.sign("ca-nokey", "x", "x.example")
    with pytest.raises(CertNotFound):
        certs.sign("nothing", "x", "x.example")
    assert not certs.exists("x")


def test_import_keeps_chain_and_checks_the_key(certs: CertStore, tmp_path: Path) -> None:
    source = CertStore(tmp_path / "other")
    source.generate("ca", ["CA"], is_ca=True)
    source.sign("ca", "leaf", "leaf.example")
    chain = source.cert_pem("leaf") + source.cert_pem("ca")
    info = certs.import_pem("imported", chain, source.key_pem("leaf"), name="Imported")
    assert info["subject"] == "leaf.example" and info["issuer"] == "CA" and info["name"] == "Imported"
    assert "ca_parent_id" not in info
    assert len(x509.load_pem_x509_certificates(certs.cert_pem("imported").encode())) == 2
    with pytest.raises(CertError, match="does not match"):
        certs.import_pem("bad", source.cert_pem("leaf"), source.key_pem("ca"))
    with pytest.raises(CertError, match="invalid certificate"):
        certs.import_pem("bad", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    with pytest.raises(CertError, match="invalid private key"):
        certs.import_pem("bad", source.cert_pem("leaf"), "not a key")
    assert not certs.exists("bad")
    # Re-importing without a key drops the old key instead of leaving a mismatched one behind.
    certs.import_pem("imported", source.cert_pem("ca"))
    assert certs.key_pem("imported") is None
    assert "key_file" not in certs.info("imported")


def test_import_paths(certs: CertStore, tmp_path: Path) -> None:
    source = CertStore(tmp_path / "other")
    source.generate("x", ["x.example"])
    info = certs.import_paths("copy", str(source.cert_path("x")), str(source.key_path("x")))
    assert info["subject"] == "x.example" and "key_file" in info
    with pytest.raises(CertError, match="cannot read cert file"):
        certs.import_paths("y", str(tmp_path / "missing.crt"))
    with pytest.raises(CertError, match="cannot read key file"):
        certs.import_paths("y", str(source.cert_path("x")), str(tmp_path / "missing.key"))


def test_list_sorted_and_skips_junk(certs: CertStore) -> None:
    certs.generate("b", ["b.example"])
    certs.generate("a", ["a.example"])
    (certs.dir / "junk.crt").write_text("not pem")
    assert [c["id"] for c in certs.list()] == ["a", "b"]


def test_delete_and_in_use(certs: CertStore) -> None:
    certs.generate("used", ["u.example"])
    certs.generate("free", ["f.example"])
    certs.in_use = lambda cert_id: "proxy socks5" if cert_id == "used" else None
    with pytest.raises(CertInUse, match="proxy socks5"):
        certs.delete("used")
    assert certs.exists("used")
    certs.delete("free")
    assert sorted(p.name for p in certs.dir.iterdir() if p.name.startswith("free")) == []
    with pytest.raises(CertNotFound):
        certs.delete("free")
    with pytest.raises(CertNotFound):
        certs.cert_pem("free")


@pytest.mark.parametrize(
    "bad_id",
    ["", ".", "..", "../etc/passwd", "a/b", "a\\b", "/abs", ".hidden", "a\x00b", "x" * 200, "sp ace"],
)
def test_traversal_and_bad_ids_are_rejected(certs: CertStore, tmp_path: Path, bad_id: str) -> None:
    with pytest.raises(CertError, match="invalid id"):
        certs.generate(bad_id, ["x.example"])
    with pytest.raises(CertError, match="invalid id"):
        certs.cert_pem(bad_id)
    with pytest.raises(CertError, match="invalid id"):
        certs.delete(bad_id)
    assert list(tmp_path.iterdir()) == [certs.dir]
    assert list(certs.dir.iterdir()) == []


def test_generate_needs_domains_and_positive_days(certs: CertStore) -> None:
    with pytest.raises(CertError, match="domains required"):
        certs.generate("x", [])
    with pytest.raises(CertError, match="days"):
        certs.generate("x", ["x.example"], days=0)
