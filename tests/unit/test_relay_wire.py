"""Byte vectors for the relay wire primitives (relay spec §0, §3.1, §4.2, §5)."""

from __future__ import annotations

import pytest

from hy2scale.relay import wire


def test_str16_vectors() -> None:
    assert wire.encode_str16("") == b"\x00\x00"
    assert wire.encode_str16("us") == b"\x00\x02us"
    assert wire.decode_str16(b"\x00\x02usXYZ") == ("us", 4)
    assert wire.encode_str16("é") == b"\x00\x02\xc3\xa9"


def test_str16_incomplete_needs_more() -> None:
    for partial in (b"", b"\x00", b"\x00\x03ab"):
        with pytest.raises(wire.NeedMore):
            wire.decode_str16(partial)


def test_meta16_roundtrip_and_limits() -> None:
    raw = wire.encode_meta16({"v": "1.3.4", "pv": 3})
    assert raw == b'\x00\x14{"v":"1.3.4","pv":3}'
    assert wire.decode_meta16(raw) == ({"v": "1.3.4", "pv": 3}, len(raw))
    assert wire.decode_meta16(b"\x00\x00") == ({}, 2)
    assert wire.decode_meta16(b"\x00\x03[1]") == ({}, 5)
    assert wire.decode_meta16(b"\x00\x04nope") == ({}, 6)
    assert wire.parse_meta(b"{" + b" " * 5000 + b"}") == {}
    with pytest.raises(wire.WireError):
        wire.encode_meta16({"x": "y" * 5000})


def test_request_record() -> None:
    raw = wire.encode_request("17", "1.2.3.4:443")
    assert raw == b"\x00\x0217\x00\x0b1.2.3.4:443"
    assert wire.decode_request(raw + b"\x00") == (("17", "1.2.3.4:443"), len(raw))
    with pytest.raises(wire.NeedMore):
        wire.decode_request(raw[:-1])


def test_frame16() -> None:
    assert wire.encode_frame16(b"abc") == b"\x00\x03abc"
    assert wire.decode_frame16(b"\x00\x03abcd") == (b"abc", 5)
    assert wire.encode_frame16(b"") == b"\x00\x00"
    with pytest.raises(wire.WireError):
        wire.encode_frame16(b"x" * 65536)
    with pytest.raises(wire.NeedMore):
        wire.decode_frame16(b"\x00\x05ab")


def test_hello_flags() -> None:
    assert wire.encode_hello(wire.Hello(False, True, "a")) == b"\x02\x00\x01a"
    assert wire.encode_hello(wire.Hello(True, True, "a")) == b"\x03\x00\x01a"
    assert wire.encode_hello(wire.Hello(False, False, "")) == b"\x00\x00\x00"
    assert wire.decode_hello(b"\x01\x00\x02kr") == (wire.Hello(True, False, "kr"), 5)


def test_latency_report_caps_to_u16() -> None:
    assert wire.encode_latency("b", 42) == b"\x00\x01b\x00\x2a"
    assert wire.encode_latency("b", 100000) == b"\x00\x01b\xff\xff"
    assert wire.decode_latency(b"\x00\x01b\x00\x2a") == (("b", 42), 5)
