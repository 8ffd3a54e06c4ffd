"""DNS wire codec: byte vectors for the query and for replies (compression, errors)."""

from __future__ import annotations

import pytest

from hy2scale import dnswire

# A reply to id 0x1234 for example.com A: two answers, the names as compression pointers to offset 12.
REPLY = bytes.fromhex(
    "1234 8180 0001 0002 0000 0000"
    "07 6578616d706c65 03 636f6d 00 0001 0001"
    "c00c 0001 0001 0000012c 0004 5db8d822"
    "c00c 001c 0001 0000012c 0010 20010db8000000000000000000000001"
)


def test_query_bytes():
    assert dnswire.build_query("example.com", 0x1234) == bytes.fromhex(
        "1234 0100 0001 0000 0000 0000 07 6578616d706c65 03 636f6d 00 0001 0001"
    )
    assert dnswire.frame_tcp(b"abc") == b"\x00\x03abc"


def test_parse_reply_with_pointers():
    assert dnswire.parse_response(REPLY, 0x1234) == ["93.184.216.34", "2001:db8::1"]


def test_parse_refuses_wrong_id_errors_and_truncation():
    with pytest.raises(dnswire.DnsError, match="id"):
        dnswire.parse_response(REPLY, 0x4321)
    nxdomain = REPLY[:2] + bytes.fromhex("8183") + REPLY[4:]
    with pytest.raises(dnswire.DnsError, match="NXDOMAIN"):
        dnswire.parse_response(nxdomain, 0x1234)
    with pytest.raises(dnswire.DnsError, match="truncated"):
        dnswire.parse_response(REPLY[:-3], 0x1234)
    with pytest.raises(dnswire.DnsError):
        dnswire.parse_response(b"\x12\x34", 0x1234)


def test_bad_names():
    for name in ("a..b", "x" * 64 + ".com", ".".join(["abcdefgh"] * 40)):
        with pytest.raises(dnswire.DnsError):
            dnswire.encode_name(name)
