"""Random identifiers and secrets, WireGuard keys, and the admin secret at rest (DESIGN.md §4.7)."""

from __future__ import annotations

import base64
import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

_hasher = PasswordHasher()  # argon2id with the library's current recommended cost


def node_id() -> str:
    return secrets.token_hex(4)


def hy2_password() -> str:
    return secrets.token_hex(12)


def sha256_hex(password: str) -> str:
    """What the login form sends instead of the password."""
    return hashlib.sha256(password.encode()).hexdigest()


def hash_admin_secret(sha256_hex_value: str) -> str:
    return _hasher.hash(sha256_hex_value)


def verify_admin_secret(stored: str, sha256_hex_value: str) -> bool:
    try:
        return _hasher.verify(stored, sha256_hex_value)
    except (VerificationError, InvalidHashError):
        return False


def wg_private_key() -> str:
    """A clamped X25519 private key in base64, as ``wg genkey`` prints it."""
    raw = bytearray(secrets.token_bytes(32))
    raw[0] &= 248
    raw[31] = (raw[31] & 127) | 64
    return base64.b64encode(bytes(raw)).decode()


def wg_public_key(private_key_b64: str) -> str:
    """The base64 public key of a base64 private key, as ``wg pubkey`` prints it; ValueError if invalid."""
    raw = base64.b64decode(private_key_b64, validate=True)
    if len(raw) != 32:
        raise ValueError("a WireGuard key is 32 bytes")
    public = X25519PrivateKey.from_private_bytes(raw).public_key()
    return base64.b64encode(public.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()
