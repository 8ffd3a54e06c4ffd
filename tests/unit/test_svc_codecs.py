"""Byte-level tests of the SOCKS5, HTTP-proxy and Shadowsocks codecs (sans-IO)."""

from __future__ import annotations

import base64
import struct
import time

import pytest
from cryptography.exceptions import InvalidTag

from hy2scale.services import http_codec as http
from hy2scale.services import socks5_codec as socks
from hy2scale.services import ss_codec as ss

# ---- SOCKS5 ---------------------------------------------------------------------------------


def test_socks5_greeting_and_user_pass() -> None:
    assert socks.parse_greeting(b"\x05") is None
    assert socks.parse_greeting(b"\x05\x02\x00\x02rest") == (frozenset({0, 2}), 4)
    with pytest.raises(socks.Socks5Error):
        socks.parse_greeting(b"\x04\x01\x00")
    assert socks.parse_user_pass(b"\x01\x05alice\x02pw") == (("alice", "pw"), 10)
    assert socks.parse_user_pass(b"\x01\x05alice\x02p") is None


@pytest.mark.parametrize(
    ("wire", "host", "port"),
    [
        (b"\x05\x01\x00\x01\x7f\x00\x00\x01\x00\x50", "127.0.0.1", 80),
        (b"\x05\x01\x00\x03\x0bexample.com\x01\xbb", "example.com", 443),
        (b"\x05\x03\x00\x04" + b"\x00" * 15 + b"\x01" + b"\x13\x88", "::1", 5000),
    ],
)
def test_socks5_request_address_types(wire: bytes, host: str, port: int) -> None:
    request, used = socks.parse_request(wire + b"extra")
    assert (request.host, request.port, used) == (host, port, len(wire))
    assert socks.parse_request(wire[:-1]) is None
    assert socks.encode_address(host, port) == wire[3:]


def test_socks5_bad_address_type_and_replies() -> None:
    with pytest.raises(socks.Socks5Error) as err:
        socks.parse_request(b"\x05\x01\x00\x09\x00\x00")
    assert err.value.reply == socks.REP_ATYP_NOT_SUPPORTED
    assert socks.reply(socks.REP_SUCCEEDED, "127.0.0.1", 1080) == b"\x05\x00\x00\x01\x7f\x00\x00\x01\x04\x38"
    assert socks.method_reply(socks.NO_ACCEPTABLE) == b"\x05\xff"
    assert socks.auth_reply(False) == b"\x01\x01"


def test_socks5_udp_datagrams() -> None:
    packet = socks.encode_udp("10.0.0.1", 53, b"query")
    assert packet == b"\x00\x00\x00\x01\x0a\x00\x00\x01\x00\x35query"
    assert socks.parse_udp(packet) == ("10.0.0.1", 53, b"query")
    assert socks.parse_udp(b"\x00\x00\x01" + packet[3:]) is None  # fragments are dropped


# ---- HTTP proxy -----------------------------------------------------------------------------


def test_http_head_target_and_hop_by_hop() -> None:
    raw = (
        b"GET http://example.com:8080/a?b=1 HTTP/1.1\r\nHost: example.com:8080\r\n"
        b"Proxy-Authorization: Basic YWxpY2U6cHc=\r\nConnection: keep-alive, X-Drop\r\nX-Drop: 1\r\n"
        b"Proxy-Connection: keep-alive\r\nAccept: */*\r\n\r\nBODY"
    )
    head, used = http.parse_head(raw)
    assert raw[used:] == b"BODY"
    assert http.request_target(head) == ("example.com", 8080, "/a?b=1")
    assert http.basic_credentials(head) == ("alice", "pw")
    assert head.without_hop_by_hop() == [("Host", "example.com:8080"), ("Accept", "*/*")]
    assert not http.wants_close(head)
    assert http.parse_head(raw[:20]) is None


def test_http_connect_framing_and_errors() -> None:
    head, _ = http.parse_head(b"CONNECT [::1]:443 HTTP/1.1\r\n\r\n")
    assert http.request_target(head) == ("::1", 443, "")
    head, _ = http.parse_head(b"GET /relative HTTP/1.1\r\n\r\n")
    with pytest.raises(http.HttpError):
        http.request_target(head)
    post, _ = http.parse_head(b"POST http://h/ HTTP/1.0\r\nContent-Length: 5\r\n\r\n")
    assert http.request_framing(post) == ("length", 5)
    assert http.wants_close(post)
    chunked, _ = http.parse_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    assert http.response_framing(chunked, "GET") == ("chunked", 0)
    assert http.response_framing(chunked, "HEAD") == ("none", 0)
    bare, _ = http.parse_head(b"HTTP/1.1 200 OK\r\n\r\n")
    assert http.response_framing(bare, "GET") == ("close", 0)
    assert http.parse_chunk_size(b"1a;ext=1\r\n") == (26, 10)
    assert http.simple_response(
        407, "Proxy Authentication Required", [("Proxy-Authenticate", 'Basic realm="proxy"')]
    ).startswith(b'HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="proxy"\r\n')


# ---- Shadowsocks ----------------------------------------------------------------------------


def test_evp_bytes_to_key_vector() -> None:
    # MD5("password") = 5f4dcc3b5aa765d61d8327deb882cf99 is the first block of the key.
    assert ss.evp_bytes_to_key(b"password", 16).hex() == "5f4dcc3b5aa765d61d8327deb882cf99"
    assert ss.evp_bytes_to_key(b"password", 32)[:16].hex() == "5f4dcc3b5aa765d61d8327deb882cf99"
    assert len(ss.evp_bytes_to_key(b"password", 32)) == 32


@pytest.mark.parametrize("name", ["aes-128-gcm", "aes-256-gcm", "chacha20-ietf-poly1305"])
def test_sip004_chunks_round_trip_and_cap(name: str) -> None:
    method = ss.METHODS[name]
    key = method.session_key(method.user_key("pw"), b"\x01" * method.salt_len)
    data = bytes(range(256)) * 200  # 51200 bytes: four chunks
    sealed = ss.ChunkSealer(method, key).chunks(data)
    assert len(sealed) == len(data) + 4 * (2 + 16 + 16)
    opener = ss.ChunkOpener(method, key)
    first_len = opener.open(sealed[:18])
    assert struct.unpack("!H", first_len)[0] == 0x3FFF
    opener = ss.ChunkOpener(method, key)
    pieces = [p for i in range(0, len(sealed), 1000) for p in opener.feed(sealed[i : i + 1000])]
    assert b"".join(pieces) == data
    tampered = bytearray(sealed)
    tampered[20] ^= 1
    with pytest.raises(InvalidTag):
        ss.ChunkOpener(method, key).feed(bytes(tampered))


def test_sip004_udp_round_trip() -> None:
    method = ss.METHODS["aes-256-gcm"]
    key = method.user_key("pw")
    packet = ss.sip004_udp_seal(method, key, "1.2.3.4", 53, b"dns")
    assert ss.sip004_udp_open(method, key, packet) == ("1.2.3.4", 53, b"dns")
    with pytest.raises(InvalidTag):
        ss.sip004_udp_open(method, method.user_key("other"), packet)


def test_2022_psk_and_headers() -> None:
    method = ss.METHODS["2022-blake3-aes-128-gcm"]
    with pytest.raises(ss.SsError):
        method.user_key("not base64!")
    with pytest.raises(ss.SsError):
        method.user_key(base64.b64encode(b"x" * 32).decode())  # wrong length for aes-128
    now = time.time()
    fixed = ss.request_fixed_header(42, now)
    assert len(fixed) == 11 and ss.parse_request_fixed_header(fixed, now) == 42
    with pytest.raises(ss.SsError):
        ss.parse_request_fixed_header(fixed, now + 31)
    variable = ss.request_variable_header("example.com", 443, b"hello")
    assert ss.parse_request_variable_header(variable) == ("example.com", 443, b"hello")
    padded = ss.request_variable_header("1.1.1.1", 80, b"")
    assert ss.parse_request_variable_header(padded) == ("1.1.1.1", 80, b"")
    with pytest.raises(ss.SsError):
        ss.parse_request_variable_header(socks.encode_address("1.1.1.1", 80) + b"\x00\x00")
    salt = b"s" * 16
    response = ss.response_fixed_header(salt, 7, now)
    assert len(response) == ss.response_fixed_header_len(method)
    assert ss.parse_response_fixed_header(response, salt, now) == 7
    with pytest.raises(ss.SsError):
        ss.parse_response_fixed_header(response, b"t" * 16, now)


def test_2022_identity_header_and_udp_round_trip() -> None:
    method = ss.METHODS["2022-blake3-aes-256-gcm"]
    server_key, user_key = b"\x11" * 32, b"\x22" * 32
    salt = b"\x33" * 32
    eih = ss.tcp_identity_header(method, server_key, user_key, salt)
    assert ss.aes_block_decrypt(ss.identity_subkey(method, server_key, salt), eih) == ss.identity_hash(
        user_key
    )
    packet = ss.udp2022_seal(
        method, server_key, user_key, b"S" * 8, 5, "10.0.0.9", 5353, b"ping", identity_key=server_key
    )
    header = ss.udp2022_open_header(server_key, packet)
    assert header == b"S" * 8 + struct.pack("!Q", 5)
    assert ss.udp2022_user_hash(server_key, header, packet) == ss.identity_hash(user_key)
    message = ss.udp2022_open_body(method, user_key, header, packet[32:], server=True)
    assert (message.host, message.port, message.payload, message.packet_id) == ("10.0.0.9", 5353, b"ping", 5)
    reply = ss.udp2022_seal(method, user_key, user_key, b"R" * 8, 0, "10.0.0.9", 5353, b"pong", b"S" * 8)
    back = ss.udp2022_open_body(
        method, user_key, ss.udp2022_open_header(user_key, reply), reply[16:], server=False
    )
    assert (back.payload, back.client_session_id) == (b"pong", b"S" * 8)


def test_salt_cache_rejects_replays_within_ttl() -> None:
    cache = ss.SaltCache(ttl=60)
    assert cache.check_and_add(b"a", now=0)
    assert not cache.check_and_add(b"a", now=30)
    assert cache.check_and_add(b"b", now=100)
    assert cache.check_and_add(b"a", now=100)  # forgotten after the TTL


def test_hchacha20_vector_and_2022_chacha_udp() -> None:
    # draft-irtf-cfrg-xchacha §2.2.1 test vector.
    key = bytes(range(32))
    nonce = bytes.fromhex("000000090000004a0000000031415927")
    assert (
        ss.hchacha20(key, nonce).hex() == "82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc"
    )
    psk = b"\x44" * 32
    packet = ss.udp2022_chacha_seal(psk, b"C" * 8, 9, "example.com", 53, b"q")
    message = ss.udp2022_chacha_open(psk, packet, server=True)
    assert (message.session_id, message.packet_id, message.host, message.payload) == (
        b"C" * 8,
        9,
        "example.com",
        b"q",
    )
    reply = ss.udp2022_chacha_seal(psk, b"S" * 8, 0, "example.com", 53, b"a", client_session_id=b"C" * 8)
    assert ss.udp2022_chacha_open(psk, reply, server=False).client_session_id == b"C" * 8
    with pytest.raises(InvalidTag):
        ss.udp2022_chacha_open(b"\x45" * 32, packet, server=True)
