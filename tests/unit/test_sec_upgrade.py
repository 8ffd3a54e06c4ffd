"""Security review of upgrade bundles: a gzip bomb is refused before its members are read."""

from __future__ import annotations

import io
import tarfile

import pytest

from hy2scale import upgrade


class _Zeros(io.RawIOBase):
    """``size`` zero bytes, produced on demand (the test never holds the bomb in memory)."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n


def test_a_bundle_that_unpacks_past_the_cap_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(upgrade, "MAX_BUNDLE_BYTES", 1 << 20)
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz", compresslevel=1) as tar:
        info = tarfile.TarInfo("hy2scale-9.9.9-py3-none-any.whl")
        info.size = 8 << 20
        tar.addfile(info, _Zeros(info.size))
    bundle = out.getvalue()
    assert len(bundle) < 1 << 20  # small on the wire, eight times the cap unpacked
    with pytest.raises(upgrade.UpgradeError, match="unpacks to more than 1 MiB"):
        upgrade.check_bundle(bundle)
