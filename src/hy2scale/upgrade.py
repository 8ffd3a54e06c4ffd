"""Offline upgrade of a venv install from an uploaded .tar.gz of wheels (DESIGN §4.10).

Flow: ``check_bundle`` (pure checks of the archive) → ``extract_wheels`` → ``install`` (pip with
--no-index into the running interpreter's venv) → ``reexec`` after the HTTP answer has gone out.
The pip runner is injectable so tests can stop at the exact command line.
"""

from __future__ import annotations

import io
import logging
import os
import re
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("hy2scale.upgrade")

MAX_BUNDLE_BYTES = 200 * 1024 * 1024
MAX_MEMBERS = 256
# PEP 427 file name: {distribution}-{version}(-{build})?-{python}-{abi}-{platform}.whl
WHEEL_NAME = re.compile(
    r"^(?P<dist>[A-Za-z0-9_.]+)-(?P<version>[A-Za-z0-9_.!+]+)(-\d[A-Za-z0-9_]*)?"
    r"-[A-Za-z0-9_.]+-[A-Za-z0-9_.]+-[A-Za-z0-9_.]+\.whl$"
)
PIP_TIMEOUT_S = 300


class UpgradeError(Exception):
    """The upload is not an acceptable bundle (→ 400)."""


class NotUpgradable(Exception):
    """This install cannot be upgraded in place (→ 409); the message says why."""


@dataclass(frozen=True)
class Bundle:
    wheels: dict[str, bytes]  # file name → content
    version: str  # of the hy2scale wheel


Runner = Callable[[Sequence[str]], subprocess.CompletedProcess[str]]


def run_pip(cmd: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False)


def check_bundle(data: bytes) -> Bundle:
    """Validate an uploaded bundle: gzip tar of regular ``*.whl`` files, exactly one hy2scale wheel."""
    if len(data) > MAX_BUNDLE_BYTES:
        raise UpgradeError(f"bundle larger than {MAX_BUNDLE_BYTES // (1024 * 1024)} MiB")
    try:
        archive = tarfile.open(fileobj=io.BytesIO(data), mode="r:gz")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise UpgradeError(f"not a .tar.gz archive: {exc}") from exc
    wheels: dict[str, bytes] = {}
    unpacked = 0
    try:
        with archive:
            for count, member in enumerate(archive):
                if count >= MAX_MEMBERS:
                    raise UpgradeError("too many files in the bundle")
                if member.isdir():
                    continue
                # Wheels are zips, so a real bundle barely compresses: members adding up past the
                # upload cap are a gzip bomb that would otherwise be read into memory whole.
                unpacked += member.size
                if unpacked > MAX_BUNDLE_BYTES:
                    raise UpgradeError(f"bundle unpacks to more than {MAX_BUNDLE_BYTES // (1024 * 1024)} MiB")
                name = os.path.basename(member.name)
                if not member.isreg():
                    raise UpgradeError(f"{member.name}: only regular files are allowed")
                if member.name.startswith("/") or ".." in Path(member.name).parts:
                    raise UpgradeError(f"{member.name}: unsafe path")
                if not WHEEL_NAME.match(name):
                    raise UpgradeError(f"{member.name}: not a wheel file name")
                if name in wheels:
                    raise UpgradeError(f"{name}: appears twice")
                handle = archive.extractfile(member)
                if handle is None:
                    raise UpgradeError(f"{member.name}: unreadable")
                wheels[name] = handle.read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise UpgradeError(f"corrupt archive: {exc}") from exc
    ours = [n for n in wheels if WHEEL_NAME.match(n)["dist"].lower() == "hy2scale"]  # type: ignore[index]
    if len(ours) != 1:
        raise UpgradeError(f"the bundle must hold exactly one hy2scale wheel, found {len(ours)}")
    for name, content in wheels.items():
        _check_wheel_zip(name, content)
    return Bundle(wheels=wheels, version=WHEEL_NAME.match(ours[0])["version"])  # type: ignore[index]


def _check_wheel_zip(name: str, content: bytes) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as wheel:
            bad = wheel.testzip()
            names = wheel.namelist()
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError) as exc:
        raise UpgradeError(f"{name}: not a valid wheel ({exc})") from exc
    if bad is not None:
        raise UpgradeError(f"{name}: corrupt member {bad}")
    if not any(n.endswith(".dist-info/WHEEL") for n in names):
        raise UpgradeError(f"{name}: no .dist-info/WHEEL inside")


def install_target() -> Path:
    """The venv this process runs from, or NotUpgradable with the reason."""
    prefix = Path(sys.prefix)
    if sys.prefix == sys.base_prefix:
        raise NotUpgradable("not running from a virtualenv; upgrade with your package manager or image")
    purelib = Path(sysconfig.get_paths()["purelib"])
    for path in (prefix, purelib):
        if not os.access(path, os.W_OK):
            raise NotUpgradable(f"{path} is not writable by this process")
    return prefix


def extract_wheels(bundle: Bundle, directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, content in bundle.wheels.items():
        path = directory / name
        path.write_bytes(content)
        paths.append(path)
    return paths


def pip_command(pip: Sequence[str], wheel_dir: Path, hy2scale_wheel: Path) -> list[str]:
    # --no-index: never reach the network; dependencies come from the bundle or are already installed.
    return [
        *pip,
        "install",
        "--no-index",
        "--disable-pip-version-check",
        "--find-links",
        str(wheel_dir),
        "--upgrade",
        str(hy2scale_wheel),
    ]


def own_pip() -> list[str]:
    """pip of the interpreter running this node, i.e. of its venv."""
    return [sys.executable, "-m", "pip"]


def install(
    bundle: Bundle, wheel_dir: Path, *, pip: Sequence[str] | None = None, runner: Runner = run_pip
) -> None:
    """Write the wheels to ``wheel_dir`` and pip-install the hy2scale one from there, offline."""
    paths = extract_wheels(bundle, wheel_dir)
    ours = next(p for p in paths if WHEEL_NAME.match(p.name)["dist"].lower() == "hy2scale")  # type: ignore[index]
    cmd = pip_command(pip or own_pip(), wheel_dir, ours)
    try:
        result = runner(cmd)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UpgradeError(f"pip failed to run: {exc}") from exc
    if result.returncode != 0:
        tail = (result.stderr or result.stdout or "").strip().splitlines()[-3:]
        raise UpgradeError("pip install failed: " + " | ".join(tail))
    log.info("event=upgrade_installed version=%s wheels=%d", bundle.version, len(paths))


def reexec() -> None:
    """Replace this process with a fresh one of the same command line (sockets are close-on-exec)."""
    argv = [sys.executable, *sys.orig_argv[1:]]
    log.info("event=upgrade_reexec argv0=%s", argv[0])
    for handler in logging.getLogger().handlers:
        handler.flush()
    os.execv(sys.executable, argv)
