"""Hysteria 2 codec: byte vectors from the protocol spec, round trips and fuzzing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hy2scale.hysteria.codec import (
    Defragger,
    UdpMessage,
    decode_varint,
    encode_tcp_request,
    encode_tcp_response,
    encode_varint,
    fragment,
    padding,
    parse_tcp_request,
    parse_tcp_response,
    parse_udp_message,
)
from hy2scale.hysteria.errors import ParseError


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        (0, b"\x00"),
        (37, b"\x25"),
        (0x401, b"\x44\x01"),
        (15293, b"\x7b\xbd"),
        (494878333, b"\x9d\x7f\x3e\x7d"),
        (151288809941952652, b"\xc2\x19\x7c\x5e\xff\x14\xe8\x8c"),
    ],
)
def test_varint_vectors(value: int, wire: bytes) -> None:
    assert encode_varint(value) == wire
    assert decode_varint(wire) == (value, len(wire))


def test_varint_truncated_is_incomplete() -> None:
    assert decode_varint(b"\x44") is None
    assert decode_varint(b"") is None


def test_tcp_request_vector() -> None:
    wire = encode_tcp_request("example.com:443", pad="ab")
    assert wire == b"\x44\x01\x0fexample.com:443\x02ab"
    assert parse_tcp_request(wire + b"payload") == ("example.com:443", len(wire))


def test_tcp_request_incomplete_then_complete() -> None:
    wire = encode_tcp_request("[::1]:80")
    for cut in range(len(wire)):
        assert parse_tcp_request(wire[:cut]) is None
    assert parse_tcp_request(wire) == ("[::1]:80", len(wire))


def test_tcp_request_default_padding_range() -> None:
    wire = encode_tcp_request("a:1")
    pad_len = len(wire) - len(b"\x44\x01\x03a:1") - 2
    assert 64 <= pad_len < 512


@pytest.mark.parametrize(
    "wire",
    [
        b"\x44\x02\x01a\x00",  # not 0x401
        b"\x44\x01\x00\x00",  # empty address
        b"\x44\x01\x48\x01",  # address longer than 2048
        b"\x44\x01\x01a\x50\x01",  # padding longer than 4096
    ],
)
def test_tcp_request_invalid(wire: bytes) -> None:
    with pytest.raises(ParseError):
        parse_tcp_request(wire)


def test_tcp_response_vectors() -> None:
    ok = encode_tcp_response(True, "", pad="")
    assert ok == b"\x00\x00\x00"
    err = encode_tcp_response(False, "dial tcp: refused", pad="xyz")
    assert err == b"\x01\x11dial tcp: refused\x03xyz"
    assert parse_tcp_response(err + b"tail") == (False, "dial tcp: refused", len(err))
    assert parse_tcp_response(ok) == (True, "", 3)
    with pytest.raises(ParseError):
        parse_tcp_response(b"\x02\x00\x00")


def test_udp_message_vector() -> None:
    msg = UdpMessage(0x01020304, 0x0506, 1, 3, "1.2.3.4:53", b"hi")
    wire = msg.encode()
    assert wire == b"\x01\x02\x03\x04\x05\x06\x01\x03\x0a1.2.3.4:53hi"
    assert parse_udp_message(wire) == msg


@pytest.mark.parametrize(
    "wire",
    [
        b"\x00\x00\x00\x01\x00\x00\x00\x01",  # no address
        b"\x00\x00\x00\x01\x00\x00\x00\x01\x03a:1",  # no payload
        b"\x00\x00\x00\x01\x00\x00\x00\x00\x03a:1x",  # zero fragments
        b"\x00\x00\x00\x01\x00\x00\x02\x02\x03a:1x",  # fragment id out of range
    ],
)
def test_udp_message_invalid(wire: bytes) -> None:
    with pytest.raises(ParseError):
        parse_udp_message(wire)


def test_fragment_small_message_goes_whole() -> None:
    msg = UdpMessage(7, 99, 0, 1, "h:1", b"x" * 100)
    (only,) = fragment(msg, 1150)
    assert (only.packet_id, only.frag_id, only.frag_count, only.data) == (0, 0, 1, msg.data)


def test_fragment_three_pieces_and_reassemble_out_of_order() -> None:
    data = bytes(range(256)) * 12  # 3072 bytes
    parts = fragment(UdpMessage(7, 0, 0, 1, "10.0.0.1:9", data), 1150)
    assert len(parts) == 3
    assert len({p.packet_id for p in parts}) == 1 and parts[0].packet_id != 0
    assert all(len(p.encode()) <= 1150 for p in parts)
    d = Defragger()
    assert d.feed(parts[2]) is None
    assert d.feed(parts[0]) is None
    whole = d.feed(parts[1])
    assert whole is not None and whole.data == data and whole.addr == "10.0.0.1:9"


def test_defragger_new_packet_drops_old() -> None:
    a = fragment(UdpMessage(1, 0, 0, 1, "h:1", b"a" * 3000), 1150)
    b = fragment(UdpMessage(1, 0, 0, 1, "h:1", b"b" * 3000), 1150)
    d = Defragger()
    assert d.feed(a[0]) is None
    assert d.feed(b[0]) is None  # a's first fragment is dropped here
    assert d.feed(b[1]) is None
    whole = d.feed(b[2])
    assert whole is not None and whole.data == b"b" * 3000
    assert d.feed(a[1]) is None
    assert d.feed(a[2]) is None  # a can never complete again


def test_padding_alphabet_and_range() -> None:
    for _ in range(20):
        pad = padding((256, 2048))
        assert 256 <= len(pad) < 2048 and pad.isalnum() and pad.isascii()


@given(st.integers(min_value=0, max_value=(1 << 62) - 1))
def test_varint_roundtrip(value: int) -> None:
    wire = encode_varint(value)
    assert decode_varint(wire + b"junk") == (value, len(wire))


addr_text = st.text(min_size=1, max_size=80).filter(lambda s: 0 < len(s.encode()) <= 2048)


@given(addr_text, st.binary(max_size=64))
def test_tcp_request_roundtrip(addr: str, tail: bytes) -> None:
    wire = encode_tcp_request(addr)
    assert parse_tcp_request(wire + tail) == (addr, len(wire))


@given(st.booleans(), st.text(max_size=100))
def test_tcp_response_roundtrip(ok: bool, message: str) -> None:
    wire = encode_tcp_response(ok, message)
    assert parse_tcp_response(wire) == (ok, message, len(wire))


@given(
    st.integers(0, 2**32 - 1),
    addr_text,
    st.binary(min_size=1, max_size=9000),
    st.integers(min_value=400, max_value=1400),
)
def test_fragment_roundtrip(session: int, addr: str, data: bytes, size: int) -> None:
    msg = UdpMessage(session, 0, 0, 1, addr, data)
    try:
        parts = fragment(msg, size)
    except ValueError:
        return  # address does not leave room for data, or more than 255 fragments
    d = Defragger()
    out = None
    for part in parts:
        wire = part.encode()
        assert len(wire) <= size
        out = d.feed(parse_udp_message(wire))
    assert out is not None and out.data == data and out.addr == addr and out.session_id == session


@given(st.binary(max_size=300))
def test_garbage_only_raises_parse_error(blob: bytes) -> None:
    for parse in (parse_tcp_request, parse_tcp_response, parse_udp_message):
        try:
            parse(blob)
        except ParseError:
            pass
