"""Salamander obfuscation: ``salt(8) || payload XOR BLAKE2b-256(psk || salt)``."""

from __future__ import annotations

import hashlib
import os

SALT_LEN = 8
KEY_LEN = 32


class Salamander:
    """Obfuscates/deobfuscates whole UDP packets; a wrong key just yields garbage QUIC drops."""

    __slots__ = ("_psk",)

    def __init__(self, password: str | bytes) -> None:
        psk = password.encode() if isinstance(password, str) else password
        if len(psk) < 4:
            raise ValueError("salamander password must be at least 4 bytes")
        self._psk = psk

    def _xor(self, salt: bytes, payload: bytes | memoryview) -> bytes:
        key = hashlib.blake2b(self._psk + salt, digest_size=KEY_LEN).digest()
        n = len(payload)
        # One big-int XOR instead of a per-byte loop: the key is tiled to the payload length.
        stream = (key * (n // KEY_LEN + 1))[:n]
        x = int.from_bytes(payload, "little") ^ int.from_bytes(stream, "little")
        return x.to_bytes(n, "little")

    def obfuscate(self, packet: bytes, salt: bytes | None = None) -> bytes:
        salt = os.urandom(SALT_LEN) if salt is None else salt
        return salt + self._xor(salt, packet)

    def deobfuscate(self, packet: bytes) -> bytes | None:
        """The QUIC packet, or ``None`` for packets too short to carry one."""
        if len(packet) <= SALT_LEN:
            return None
        mv = memoryview(packet)
        return self._xor(bytes(mv[:SALT_LEN]), mv[SALT_LEN:])
