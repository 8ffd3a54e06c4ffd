"""TLS store under ``<data>/tls/``: ``<id>.crt``, ``<id>.key`` (0600), ``<id>.name``, ``<id>.ca`` (signer id).

Same layout as the original so its backups load (node-core.md §1.3, §7; api.md §3.7). Ids are checked
before they touch the filesystem; a key must match its certificate.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

log = logging.getLogger("hy2scale.certs")

# Starts with no dot, so "." / ".." and hidden files are impossible; no separators at all.
CERT_ID_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
DEFAULT_GENERATE_DAYS = 365
DEFAULT_SIGN_DAYS = 7300
# Tolerate peers whose clocks run a little behind ours.
BACKDATE = dt.timedelta(minutes=5)

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
# Returns who uses a cert (e.g. "proxy socks5") or None; wired by the node.
InUse = Callable[[str], str | None]


class CertError(ValueError):
    """Bad input (invalid id, PEM, key mismatch...): the API answers 400."""


class CertNotFound(CertError):
    """No certificate with that id: 404."""


class CertInUse(CertError):
    """Deleting a certificate a service uses: 409."""


def check_id(cert_id: str) -> str:
    if not isinstance(cert_id, str) or not CERT_ID_RE.fullmatch(cert_id):
        raise CertError("invalid id")
    return cert_id


class CertStore:
    def __init__(self, tls_dir: str | Path, in_use: InUse | None = None) -> None:
        self.dir = Path(tls_dir)
        self.in_use = in_use
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)

    # -- paths -------------------------------------------------------------------------------------

    def cert_path(self, cert_id: str) -> Path:
        return self.dir / f"{check_id(cert_id)}.crt"

    def key_path(self, cert_id: str) -> Path:
        return self.dir / f"{check_id(cert_id)}.key"

    def exists(self, cert_id: str) -> bool:
        return self.cert_path(cert_id).is_file()

    # -- reading -----------------------------------------------------------------------------------

    def list(self) -> list[dict[str, Any]]:
        """CertInfo of every parsable ``*.crt``, sorted by id; unparsable files are skipped."""
        infos = []
        for path in sorted(self.dir.glob("*.crt")):
            if not CERT_ID_RE.fullmatch(path.stem):
                continue
            try:
                infos.append(self.info(path.stem))
            except CertError:
                log.warning("event=cert_unparsable id=%s", path.stem)
        return infos

    def info(self, cert_id: str) -> dict[str, Any]:
        cert = self._load_cert(cert_id)
        key = self.key_path(cert_id)
        info: dict[str, Any] = {
            "id": cert_id,
            "name": self._read_side(cert_id, "name") or cert_id,
            "subject": _common_name(cert.subject),
            "issuer": _common_name(cert.issuer),
            "not_after": cert.not_valid_after_utc.strftime("%Y-%m-%d"),
            "is_ca": _is_ca(cert),
            "cert_file": str(self.cert_path(cert_id).resolve()),
        }
        if key.is_file():
            info["key_file"] = str(key.resolve())
        parent = self._read_side(cert_id, "ca")
        if parent:
            info["ca_parent_id"] = parent
        return info

    def cert_pem(self, cert_id: str) -> str:
        path = self.cert_path(cert_id)
        if not path.is_file():
            raise CertNotFound(f"certificate {cert_id!r} not found")
        return path.read_text()

    def key_pem(self, cert_id: str) -> str | None:
        path = self.key_path(cert_id)
        return path.read_text() if path.is_file() else None

    # -- creating ----------------------------------------------------------------------------------

    def generate(
        self,
        cert_id: str,
        domains: Iterable[str],
        *,
        name: str | None = None,
        days: int = DEFAULT_GENERATE_DAYS,
        is_ca: bool = False,
    ) -> dict[str, Any]:
        """Self-signed ECDSA P-256 leaf (CN = first domain, SAN = all), or a CA when ``is_ca``."""
        check_id(cert_id)
        domains = [d.strip() for d in domains if d and d.strip()]
        if not domains:
            raise CertError("id and domains required")
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domains[0])])
        builder = _base_builder(subject, subject, key.public_key(), days)
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
        )
        builder = (
            _with_ca_extensions(builder) if is_ca else _with_leaf_extensions(builder, domains, rsa_key=False)
        )
        cert = builder.sign(key, hashes.SHA256())
        self._write(cert_id, cert, key, name=name or cert_id, parent=None)
        log.info("event=cert_generated id=%s is_ca=%s days=%d", cert_id, is_ca, days)
        return self.info(cert_id)

    def sign(
        self,
        ca_id: str,
        cert_id: str,
        cn: str,
        *,
        name: str | None = None,
        days: int = DEFAULT_SIGN_DAYS,
    ) -> dict[str, Any]:
        """An RSA-2048 leaf for ``cn`` signed by the stored CA ``ca_id`` (subject = CA subject, CN replaced)."""
        check_id(ca_id)
        check_id(cert_id)
        cn = (cn or "").strip()
        if not cn:
            raise CertError("ca_id, id, and cn required")
        ca_cert = self._load_cert(ca_id)
        if not _is_ca(ca_cert):
            raise CertError("selected certificate is not a CA")
        ca_key = self._load_key(ca_id)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        attrs = [a for a in ca_cert.subject if a.oid != NameOID.COMMON_NAME]
        subject = x509.Name([*attrs, x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        builder = _base_builder(subject, ca_cert.subject, key.public_key(), days)
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        cert = _with_leaf_extensions(builder, [cn], rsa_key=True).sign(ca_key, hashes.SHA256())
        self._write(cert_id, cert, key, name=name or cn, parent=ca_id)
        log.info("event=cert_signed id=%s ca=%s days=%d", cert_id, ca_id, days)
        return self.info(cert_id)

    def import_pem(
        self, cert_id: str, cert_pem: str, key_pem: str | None = None, *, name: str | None = None
    ) -> dict[str, Any]:
        """Store PEM text (the whole chain is kept); the key, when given, must match the first cert."""
        check_id(cert_id)
        if not cert_pem or not cert_pem.strip():
            raise CertError("id and cert required")
        try:
            chain = x509.load_pem_x509_certificates(cert_pem.encode())
        except ValueError as e:
            raise CertError(f"invalid certificate: {e}") from e
        key = _parse_key(key_pem) if key_pem and key_pem.strip() else None
        if key is not None and not _same_public_key(chain[0].public_key(), key.public_key()):
            raise CertError("private key does not match the certificate")
        self._write_text(cert_id, _normalise(cert_pem), key_pem=_normalise(key_pem) if key else None)
        self._write_side(cert_id, "name", name or cert_id)
        self._remove_side(cert_id, "ca")
        log.info("event=cert_imported id=%s has_key=%s", cert_id, key is not None)
        return self.info(cert_id)

    def import_paths(
        self, cert_id: str, cert_path: str, key_path: str | None = None, *, name: str | None = None
    ) -> dict[str, Any]:
        """Import files that already exist on this host (read once; the store keeps its own copy)."""
        check_id(cert_id)
        if not cert_path:
            raise CertError("id and cert_path required")
        cert_pem = _read_file(cert_path, "cert")
        key_pem = _read_file(key_path, "key") if key_path else None
        return self.import_pem(cert_id, cert_pem, key_pem, name=name)

    # -- deleting ----------------------------------------------------------------------------------

    def delete(self, cert_id: str) -> None:
        if not self.exists(cert_id):
            raise CertNotFound(f"certificate {cert_id!r} not found")
        user = self.in_use(cert_id) if self.in_use else None
        if user:
            raise CertInUse(f"certificate {cert_id!r} is in use by {user}")
        for suffix in ("crt", "key", "name", "ca"):
            (self.dir / f"{cert_id}.{suffix}").unlink(missing_ok=True)
        log.info("event=cert_deleted id=%s", cert_id)

    # -- internals ---------------------------------------------------------------------------------

    def _load_cert(self, cert_id: str) -> x509.Certificate:
        pem = self.cert_pem(cert_id)
        try:
            return x509.load_pem_x509_certificates(pem.encode())[0]
        except ValueError as e:
            raise CertError(f"invalid certificate {cert_id!r}: {e}") from e

    def _load_key(self, cert_id: str) -> PrivateKey:
        pem = self.key_pem(cert_id)
        if pem is None:
            raise CertError(f"CA private key not found: {cert_id}")
        return _parse_key(pem)

    def _write(
        self, cert_id: str, cert: x509.Certificate, key: PrivateKey, *, name: str, parent: str | None
    ) -> None:
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        ).decode()
        self._write_text(cert_id, cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem=key_pem)
        self._write_side(cert_id, "name", name)
        if parent:
            self._write_side(cert_id, "ca", parent)
        else:
            self._remove_side(cert_id, "ca")

    def _write_text(self, cert_id: str, cert_pem: str, *, key_pem: str | None) -> None:
        # Key first: a reader that sees the new cert must never find the old key beside it.
        if key_pem is not None:
            _atomic_write(self.key_path(cert_id), key_pem, 0o600)
        else:
            self.key_path(cert_id).unlink(missing_ok=True)
        _atomic_write(self.cert_path(cert_id), cert_pem, 0o644)

    def _read_side(self, cert_id: str, suffix: str) -> str:
        path = self.dir / f"{check_id(cert_id)}.{suffix}"
        return path.read_text().strip() if path.is_file() else ""

    def _write_side(self, cert_id: str, suffix: str, value: str) -> None:
        _atomic_write(self.dir / f"{check_id(cert_id)}.{suffix}", value, 0o644)

    def _remove_side(self, cert_id: str, suffix: str) -> None:
        (self.dir / f"{check_id(cert_id)}.{suffix}").unlink(missing_ok=True)


def _base_builder(
    subject: x509.Name, issuer: x509.Name, public_key: Any, days: int
) -> x509.CertificateBuilder:
    if days <= 0:
        raise CertError("days must be positive")
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _with_leaf_extensions(
    builder: x509.CertificateBuilder, names: list[str], *, rsa_key: bool
) -> x509.CertificateBuilder:
    # keyEncipherment only makes sense for RSA key exchange; strict verifiers reject it on ECDSA leaves.
    return (
        builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=rsa_key,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName([_general_name(n) for n in names]), critical=False)
    )


def _with_ca_extensions(builder: x509.CertificateBuilder) -> x509.CertificateBuilder:
    return builder.add_extension(
        x509.BasicConstraints(ca=True, path_length=None), critical=True
    ).add_extension(
        x509.KeyUsage(
            digital_signature=True,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=True,
            crl_sign=True,
            encipher_only=False,
            decipher_only=False,
        ),
        critical=True,
    )


def _general_name(value: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(value))
    except ValueError:
        return x509.DNSName(value)


def _common_name(name: x509.Name) -> str:
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else ""


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _parse_key(pem: str) -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as e:
        raise CertError(f"invalid private key: {e}") from e
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise CertError("unsupported private key type (ECDSA or RSA expected)")
    return key


def _same_public_key(a: Any, b: Any) -> bool:
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return a.public_bytes(*fmt) == b.public_bytes(*fmt)


def _normalise(pem: str | None) -> str:
    text = (pem or "").strip()
    return text + "\n" if text else ""


def _read_file(path: str, what: str) -> str:
    try:
        return Path(path).read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise CertError(f"cannot read {what} file: {e}") from e


def _atomic_write(path: Path, text: str, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        os.fchmod(fd, mode)
        f.write(text)
        f.flush()
        os.fsync(fd)
    os.replace(tmp, path)


def cert_user(store: Any, tls_dir: Path, cert_id: str) -> str | None:
    """Who uses ``cert_id`` (the hy2 server, a proxy, IKEv2 or the UI's HTTPS setting), None if nobody.

    The hy2 server names its cert by path; this store's file for ``cert_id``, the bare id, or any
    ``tls/<id>.crt|.key`` path counts, so a delete never pulls a cert from under the server (an
    imported config may still name the original's data dir).
    """
    server = store.sections.get("server")
    own_files = {str(tls_dir / f"{cert_id}{suffix}") for suffix in (".crt", ".key")}
    if server.get("enabled", True):
        for field in ("tls_cert", "tls_key"):
            value = str(server.get(field) or "")
            if value and (value == cert_id or value in own_files or _names_cert_file(value, cert_id)):
                return "the hy2 server"
    for proxy in store.proxies.list():
        if proxy.get("tls_cert") == cert_id:
            return f"proxy {proxy['id']}"
    if store.sections.get("ikev2").get("cert_id") == cert_id:
        return "IKEv2"
    if store.sections.get("ui").get("https_cert_id") == cert_id:
        return "the web UI (https_cert_id)"
    return None


def _names_cert_file(path: str, cert_id: str) -> bool:
    candidate = Path(path)
    return (
        candidate.stem == cert_id and candidate.parent.name == "tls" and candidate.suffix in (".crt", ".key")
    )
