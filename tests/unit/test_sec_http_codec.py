"""Security review of the HTTP proxy codec: chunk sizes are plain hex, nothing int() would also take."""

from __future__ import annotations

import pytest

from hy2scale.services import http_codec as codec


@pytest.mark.parametrize(
    "line", [b"-5\r\n", b"+5\r\n", b"0x5\r\n", b"1_0\r\n", b"\r\n", b" \r\n", b"-0;ext\r\n"]
)
def test_non_hex_chunk_sizes_are_refused(line: bytes) -> None:
    with pytest.raises(codec.HttpError) as info:
        codec.parse_chunk_size(line)
    assert info.value.status == 400


@pytest.mark.parametrize(
    ("line", "size"), [(b"0\r\n", 0), (b"1a\r\n", 26), (b"FF;name=value\r\n", 255), (b"10 \r\n", 16)]
)
def test_hex_chunk_sizes_with_extensions(line: bytes, size: int) -> None:
    assert codec.parse_chunk_size(line + b"rest") == (size, len(line))


def test_an_oversized_size_line_is_refused() -> None:
    with pytest.raises(codec.HttpError):
        codec.parse_chunk_size(b"1" * 5000)
