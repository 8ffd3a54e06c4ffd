"""The upgrade bundle checks (pure): what is accepted, what is refused and why, and the pip command."""

from __future__ import annotations

import base64
import hashlib
import io
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from hy2scale import upgrade


def make_wheel(
    dist: str = "hy2scale", version: str = "9.9.9", module: str = "hy2scale", requires: tuple[str, ...] = ()
) -> tuple[str, bytes]:
    """A real, installable pure-Python wheel (PEP 427) with one module."""
    metadata = f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n"
    metadata += "".join(f"Requires-Dist: {r}\n" for r in requires)
    files = {
        f"{module}/__init__.py": f'__version__ = "{version}"\n'.encode(),
        f"{dist}-{version}.dist-info/METADATA": metadata.encode(),
        f"{dist}-{version}.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: hy2scale-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record_name = f"{dist}-{version}.dist-info/RECORD"
    lines = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        lines.append(f"{name},sha256={digest},{len(data)}")
    lines.append(f"{record_name},,")
    files[record_name] = ("\n".join(lines) + "\n").encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return f"{dist}-{version}-py3-none-any.whl", out.getvalue()


def make_bundle(members: dict[str, bytes], extra: list[tarfile.TarInfo] = ()) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in extra:
            tar.addfile(info)
    return out.getvalue()


def test_accepts_one_hy2scale_wheel_with_dependencies():
    ours = make_wheel()
    dep = make_wheel("somedep", "1.0", "somedep")
    bundle = upgrade.check_bundle(make_bundle({f"wheels/{ours[0]}": ours[1], dep[0]: dep[1]}))
    assert bundle.version == "9.9.9"
    assert set(bundle.wheels) == {ours[0], dep[0]}


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({}, "exactly one hy2scale wheel"),
        ({"a.txt": b"x"}, "not a wheel file name"),
        ({"hy2scale-1-py3-none-any.whl": b"not a zip"}, "not a valid wheel"),
        ({"../hy2scale-1-py3-none-any.whl": make_wheel(version="1")[1]}, "unsafe path"),
    ],
)
def test_refuses_bad_bundles(members, message):
    with pytest.raises(upgrade.UpgradeError, match=message):
        upgrade.check_bundle(make_bundle(members))


def test_refuses_two_hy2scale_wheels_links_and_non_gzip():
    a, b = make_wheel(version="1.0"), make_wheel(version="2.0")
    with pytest.raises(upgrade.UpgradeError, match="found 2"):
        upgrade.check_bundle(make_bundle(dict([a, b])))
    link = tarfile.TarInfo("hy2scale-1.0-py3-none-any.whl")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc/passwd"
    with pytest.raises(upgrade.UpgradeError, match="regular files"):
        upgrade.check_bundle(make_bundle({}, extra=[link]))
    with pytest.raises(upgrade.UpgradeError, match=r"not a \.tar\.gz"):
        upgrade.check_bundle(b"PK\x03\x04 plain zip")
    empty_zip = io.BytesIO()
    zipfile.ZipFile(empty_zip, "w").close()
    with pytest.raises(upgrade.UpgradeError, match="WHEEL"):
        upgrade.check_bundle(make_bundle({"hy2scale-1.0-py3-none-any.whl": empty_zip.getvalue()}))


def test_install_runs_pip_offline_and_reports_failures(tmp_path):
    name, data = make_wheel()
    bundle = upgrade.check_bundle(make_bundle({name: data}))
    calls = []

    def runner(cmd):
        calls.append(list(cmd))
        return subprocess.CompletedProcess(cmd, 0, "", "")

    upgrade.install(bundle, tmp_path / "w", pip=["python", "-m", "pip"], runner=runner)
    cmd = calls[0]
    assert cmd[:4] == ["python", "-m", "pip", "install"]
    assert "--no-index" in cmd and cmd[cmd.index("--find-links") + 1] == str(tmp_path / "w")
    assert cmd[-1] == str(tmp_path / "w" / name) and Path(cmd[-1]).read_bytes() == data

    def failing(cmd):
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution found for foo\n")

    with pytest.raises(upgrade.UpgradeError, match="No matching distribution"):
        upgrade.install(bundle, tmp_path / "w2", runner=failing)


def test_install_target_refuses_a_non_venv(monkeypatch):
    import sys

    monkeypatch.setattr(sys, "prefix", sys.base_prefix)
    with pytest.raises(upgrade.NotUpgradable, match="virtualenv"):
        upgrade.install_target()
