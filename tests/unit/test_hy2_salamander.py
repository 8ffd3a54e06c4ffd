"""Salamander: the key derivation of the spec (BLAKE2b-256 of psk then salt) and round trips."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hy2scale.hysteria.salamander import Salamander


def test_vector_matches_spec_formula() -> None:
    salt = bytes(range(8))
    payload = b"QUIC packet bytes " * 5
    key = hashlib.blake2b(b"secret-psk" + salt, digest_size=32).digest()
    expected = salt + bytes(b ^ key[i % 32] for i, b in enumerate(payload))
    assert Salamander("secret-psk").obfuscate(payload, salt=salt) == expected


@given(st.binary(min_size=1, max_size=2048))
def test_roundtrip(payload: bytes) -> None:
    s = Salamander("password")
    wire = s.obfuscate(payload)
    assert len(wire) == len(payload) + 8
    assert s.deobfuscate(wire) == payload


def test_short_packets_are_dropped_and_psk_checked() -> None:
    assert Salamander("abcd").deobfuscate(b"12345678") is None
    with pytest.raises(ValueError):
        Salamander("abc")


def test_wrong_key_gives_garbage() -> None:
    wire = Salamander("right-key").obfuscate(b"hello world")
    assert Salamander("wrong-key").deobfuscate(wire) != b"hello world"
