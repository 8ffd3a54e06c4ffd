"""Shadowsocks AEAD (SIP004) and 2022 (SIP022 + identity headers) wire format, sans-IO.

Keys, chunk framing, request/response headers and UDP packets; no sockets. Authentication
failures raise :class:`cryptography.exceptions.InvalidTag` or :class:`SsError`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import struct
import time
from collections import OrderedDict
from dataclasses import dataclass

import blake3
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from hy2scale.services.socks5_codec import encode_address, parse_address

TAG = 16
SIP004_MAX = 0x3FFF  # libev masks lengths with 0x3FFF: 0x4000 would read as 0
SIP022_MAX = 0xFFFF
TIME_WINDOW = 30
SESSION_CONTEXT = "shadowsocks 2022 session subkey"
IDENTITY_CONTEXT = "shadowsocks 2022 identity subkey"
MAX_PADDING = 900


class SsError(ValueError):
    pass


@dataclass(frozen=True)
class Method:
    name: str
    key_len: int
    chacha: bool
    is_2022: bool

    @property
    def salt_len(self) -> int:
        return self.key_len

    @property
    def max_payload(self) -> int:
        return SIP022_MAX if self.is_2022 else SIP004_MAX

    def aead(self, key: bytes) -> AESGCM | ChaCha20Poly1305:
        return ChaCha20Poly1305(key) if self.chacha else AESGCM(key)

    def user_key(self, password: str) -> bytes:
        """SIP004: EVP_BytesToKey(MD5) of the password. 2022: the base64 PSK of exactly key_len bytes."""
        if self.is_2022:
            return decode_psk(password, self.key_len)
        return evp_bytes_to_key(password.encode(), self.key_len)

    def session_key(self, key: bytes, salt: bytes) -> bytes:
        if self.is_2022:
            return blake3.blake3(key + salt, derive_key_context=SESSION_CONTEXT).digest(self.key_len)
        return HKDF(hashes.SHA1(), self.key_len, salt, b"ss-subkey").derive(key)


METHODS = {
    m.name: m
    for m in (
        Method("aes-128-gcm", 16, False, False),
        Method("aes-256-gcm", 32, False, False),
        Method("chacha20-ietf-poly1305", 32, True, False),
        Method("2022-blake3-aes-128-gcm", 16, False, True),
        Method("2022-blake3-aes-256-gcm", 32, False, True),
        Method("2022-blake3-chacha20-poly1305", 32, True, True),
    )
}


def evp_bytes_to_key(password: bytes, key_len: int) -> bytes:
    out, prev = b"", b""
    while len(out) < key_len:
        prev = hashlib.md5(prev + password).digest()
        out += prev
    return out[:key_len]


def decode_psk(text: str, key_len: int) -> bytes:
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise SsError("PSK is not base64") from None
    if len(key) != key_len:
        raise SsError(f"PSK must be {key_len} bytes")
    return key


def nonce(counter: int) -> bytes:
    return counter.to_bytes(12, "little")


class ChunkSealer:
    """Seals a stream direction: one counter, chunks of length + payload."""

    def __init__(self, method: Method, key: bytes) -> None:
        self._aead = method.aead(key)
        self._max = method.max_payload
        self._n = 0

    def seal(self, plaintext: bytes) -> bytes:
        out = self._aead.encrypt(nonce(self._n), plaintext, None)
        self._n += 1
        return out

    def chunks(self, data: bytes) -> bytes:
        out = []
        for i in range(0, len(data), self._max):
            part = data[i : i + self._max]
            out.append(self.seal(struct.pack("!H", len(part))))
            out.append(self.seal(part))
        return b"".join(out)


class ChunkOpener:
    """Opens a stream direction incrementally: feed ciphertext, get plaintext payloads."""

    def __init__(self, method: Method, key: bytes) -> None:
        self._aead = method.aead(key)
        self._n = 0
        self._buf = bytearray()
        self._want: int | None = None

    def open(self, sealed: bytes) -> bytes:
        out = self._aead.decrypt(nonce(self._n), sealed, None)
        self._n += 1
        return out

    def expect(self, length: int) -> None:
        """The next chunk is a payload of ``length`` (set by a 2022 header instead of a length chunk)."""
        self._want = length

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        out = []
        while True:
            if self._want is None:
                if len(self._buf) < 2 + TAG:
                    break
                (length,) = struct.unpack("!H", self.open(bytes(self._buf[: 2 + TAG])))
                del self._buf[: 2 + TAG]
                self._want = length
            if len(self._buf) < self._want + TAG:
                break
            out.append(self.open(bytes(self._buf[: self._want + TAG])))
            del self._buf[: self._want + TAG]
            self._want = None
        return out


# ---- 2022 headers ---------------------------------------------------------------------------


def identity_hash(key: bytes) -> bytes:
    return blake3.blake3(key).digest()[:16]


def _ecb(key: bytes) -> Cipher:
    return Cipher(algorithms.AES(key), modes.ECB())


def aes_block_encrypt(key: bytes, block: bytes) -> bytes:
    enc = _ecb(key).encryptor()
    return enc.update(block) + enc.finalize()


def aes_block_decrypt(key: bytes, block: bytes) -> bytes:
    dec = _ecb(key).decryptor()
    return dec.update(block) + dec.finalize()


def identity_subkey(method: Method, server_key: bytes, salt: bytes) -> bytes:
    return blake3.blake3(server_key + salt, derive_key_context=IDENTITY_CONTEXT).digest(method.key_len)


def tcp_identity_header(method: Method, server_key: bytes, user_key: bytes, salt: bytes) -> bytes:
    return aes_block_encrypt(identity_subkey(method, server_key, salt), identity_hash(user_key))


def check_time(timestamp: int, now: float | None = None) -> None:
    if abs((now if now is not None else time.time()) - timestamp) > TIME_WINDOW:
        raise SsError("timestamp outside the 30 s window")


def request_fixed_header(length: int, now: float | None = None) -> bytes:
    return struct.pack("!BQH", 0, int(now if now is not None else time.time()), length)


def parse_request_fixed_header(plain: bytes, now: float | None = None) -> int:
    kind, timestamp, length = struct.unpack("!BQH", plain)
    if kind != 0:
        raise SsError("not a client stream")
    check_time(timestamp, now)
    return length


def request_variable_header(host: str, port: int, payload: bytes, padding: int = 0) -> bytes:
    if not payload and not padding:
        padding = 1 + os.urandom(1)[0] % MAX_PADDING
    return encode_address(host, port) + struct.pack("!H", padding) + os.urandom(padding) + payload


def parse_request_variable_header(plain: bytes) -> tuple[str, int, bytes]:
    parsed = parse_address(plain)
    if parsed is None:
        raise SsError("truncated address")
    (host, port), end = parsed
    if len(plain) < end + 2:
        raise SsError("truncated padding")
    (padding,) = struct.unpack_from("!H", plain, end)
    end += 2 + padding
    if padding > MAX_PADDING or end > len(plain):
        raise SsError("bad padding")
    payload = plain[end:]
    if not payload and not padding:
        raise SsError("neither payload nor padding")
    return host, port, payload


def response_fixed_header(request_salt: bytes, length: int, now: float | None = None) -> bytes:
    return (
        struct.pack("!BQ", 1, int(now if now is not None else time.time()))
        + request_salt
        + struct.pack("!H", length)
    )


def parse_response_fixed_header(plain: bytes, request_salt: bytes, now: float | None = None) -> int:
    kind, timestamp = struct.unpack_from("!BQ", plain)
    if kind != 1 or plain[9 : 9 + len(request_salt)] != request_salt:
        raise SsError("not our response stream")
    check_time(timestamp, now)
    (length,) = struct.unpack_from("!H", plain, 9 + len(request_salt))
    return length


def response_fixed_header_len(method: Method) -> int:
    return 1 + 8 + method.salt_len + 2


# ---- UDP ------------------------------------------------------------------------------------


def sip004_udp_seal(method: Method, key: bytes, host: str, port: int, payload: bytes) -> bytes:
    salt = os.urandom(method.salt_len)
    sealed = method.aead(method.session_key(key, salt)).encrypt(
        nonce(0), encode_address(host, port) + payload, None
    )
    return salt + sealed


def sip004_udp_open(method: Method, key: bytes, packet: bytes) -> tuple[str, int, bytes]:
    salt, sealed = packet[: method.salt_len], packet[method.salt_len :]
    plain = method.aead(method.session_key(key, salt)).decrypt(nonce(0), sealed, None)
    parsed = parse_address(plain)
    if parsed is None:
        raise SsError("truncated address")
    (host, port), end = parsed
    return host, port, plain[end:]


@dataclass(frozen=True)
class Udp2022Packet:
    session_id: bytes
    packet_id: int
    host: str
    port: int
    payload: bytes
    client_session_id: bytes = b""


def udp2022_open_header(header_key: bytes, packet: bytes) -> bytes:
    """Decrypt the separate header (session id + packet id)."""
    if len(packet) < 16 + TAG:
        raise SsError("short packet")
    return aes_block_decrypt(header_key, packet[:16])


def udp2022_user_hash(server_key: bytes, header: bytes, packet: bytes) -> bytes:
    eih = aes_block_decrypt(server_key, packet[16:32])
    return bytes(a ^ b for a, b in zip(eih, header, strict=True))


def udp2022_open_body(
    method: Method, user_key: bytes, header: bytes, sealed: bytes, server: bool
) -> Udp2022Packet:
    """Open an AES packet body; ``server`` means we are the server (so the packet is client-to-server)."""
    aead = method.aead(method.session_key(user_key, header[:8]))
    return _parse_udp_body(header, aead.decrypt(header[4:16], sealed, None), server)


def _parse_udp_body(header: bytes, plain: bytes, server: bool) -> Udp2022Packet:
    kind, timestamp = struct.unpack_from("!BQ", plain)
    if kind != (0 if server else 1):
        raise SsError("wrong packet type")
    check_time(timestamp)
    offset = 9
    client_session = b""
    if not server:
        client_session = plain[offset : offset + 8]
        offset += 8
    (padding,) = struct.unpack_from("!H", plain, offset)
    offset += 2 + padding
    parsed = parse_address(plain, offset)
    if parsed is None:
        raise SsError("truncated address")
    (host, port), end = parsed
    (packet_id,) = struct.unpack("!Q", header[8:16])
    return Udp2022Packet(header[:8], packet_id, host, port, plain[end:], client_session)


def udp2022_seal(
    method: Method,
    header_key: bytes,
    user_key: bytes,
    session_id: bytes,
    packet_id: int,
    host: str,
    port: int,
    payload: bytes,
    client_session_id: bytes = b"",
    identity_key: bytes | None = None,
) -> bytes:
    """A packet; ``client_session_id`` set means server-to-client. ``identity_key`` adds an identity header."""
    header = session_id + struct.pack("!Q", packet_id)
    kind = 1 if client_session_id else 0
    body = struct.pack("!BQ", kind, int(time.time())) + client_session_id + struct.pack("!H", 0)
    body += encode_address(host, port) + payload
    sealed = method.aead(method.session_key(user_key, session_id)).encrypt(header[4:16], body, None)
    eih = b""
    if identity_key is not None:
        mixed = bytes(a ^ b for a, b in zip(identity_hash(user_key), header, strict=True))
        eih = aes_block_encrypt(identity_key, mixed)
    return aes_block_encrypt(header_key, header) + eih + sealed


# ---- 2022-blake3-chacha20-poly1305 UDP: XChaCha20-Poly1305 with the PSK itself ----------------------

_SIGMA = struct.unpack("<4I", b"expand 32-byte k")
_MASK = 0xFFFFFFFF


def _quarter(x: list[int], a: int, b: int, c: int, d: int) -> None:
    x[a] = (x[a] + x[b]) & _MASK
    x[d] ^= x[a]
    x[d] = ((x[d] << 16) | (x[d] >> 16)) & _MASK
    x[c] = (x[c] + x[d]) & _MASK
    x[b] ^= x[c]
    x[b] = ((x[b] << 12) | (x[b] >> 20)) & _MASK
    x[a] = (x[a] + x[b]) & _MASK
    x[d] ^= x[a]
    x[d] = ((x[d] << 8) | (x[d] >> 24)) & _MASK
    x[c] = (x[c] + x[d]) & _MASK
    x[b] ^= x[c]
    x[b] = ((x[b] << 7) | (x[b] >> 25)) & _MASK


def hchacha20(key: bytes, nonce16: bytes) -> bytes:
    """HChaCha20 (draft-irtf-cfrg-xchacha §2.2): the subkey step of XChaCha20; `cryptography` lacks it."""
    x = [*_SIGMA, *struct.unpack("<8I", key), *struct.unpack("<4I", nonce16)]
    for _ in range(10):
        _quarter(x, 0, 4, 8, 12)
        _quarter(x, 1, 5, 9, 13)
        _quarter(x, 2, 6, 10, 14)
        _quarter(x, 3, 7, 11, 15)
        _quarter(x, 0, 5, 10, 15)
        _quarter(x, 1, 6, 11, 12)
        _quarter(x, 2, 7, 8, 13)
        _quarter(x, 3, 4, 9, 14)
    return struct.pack("<8I", *x[0:4], *x[12:16])


def xchacha_seal(key: bytes, nonce24: bytes, plain: bytes) -> bytes:
    return ChaCha20Poly1305(hchacha20(key, nonce24[:16])).encrypt(b"\0" * 4 + nonce24[16:], plain, None)


def xchacha_open(key: bytes, nonce24: bytes, sealed: bytes) -> bytes:
    return ChaCha20Poly1305(hchacha20(key, nonce24[:16])).decrypt(b"\0" * 4 + nonce24[16:], sealed, None)


def udp2022_chacha_open(key: bytes, packet: bytes, server: bool) -> Udp2022Packet:
    """A 2022-chacha packet: 24-byte nonce, then the sealed body that carries session and packet ids."""
    if len(packet) < 24 + TAG + 16:
        raise SsError("short packet")
    plain = xchacha_open(key, packet[:24], packet[24:])
    return _parse_udp_body(plain[:16], plain[16:], server)


def udp2022_chacha_seal(
    key: bytes,
    session_id: bytes,
    packet_id: int,
    host: str,
    port: int,
    payload: bytes,
    client_session_id: bytes = b"",
) -> bytes:
    nonce24 = os.urandom(24)
    kind = 1 if client_session_id else 0
    body = session_id + struct.pack("!QBQ", packet_id, kind, int(time.time())) + client_session_id
    body += struct.pack("!H", 0) + encode_address(host, port) + payload
    return nonce24 + xchacha_seal(key, nonce24, body)


class SaltCache:
    """Salts seen in the last ``ttl`` seconds (exact set: no false positives, as SIP022 requires).

    Insertion order is time order, so expiry pops from the front in O(1) per salt.
    """

    def __init__(self, ttl: float = 60.0, limit: int = 200_000) -> None:
        self._ttl = ttl
        self._limit = limit
        self._seen: OrderedDict[bytes, float] = OrderedDict()

    def check_and_add(self, salt: bytes, now: float | None = None) -> bool:
        """True when the salt is new (and is now remembered); False for a replay or when full."""
        now = now if now is not None else time.monotonic()
        while self._seen:
            oldest = next(iter(self._seen.values()))
            if oldest >= now - self._ttl:
                break
            self._seen.popitem(last=False)
        if salt in self._seen or len(self._seen) >= self._limit:
            return False
        self._seen[salt] = now
        return True
