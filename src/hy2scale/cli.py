"""``hy2scale`` command line: run | version | export-config | import-config | reset-admin.

Errors are one line on stderr and a distinct exit code; nothing is written to the data directory
before the inputs have been checked.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import uvloop

from . import __version__
from .logging_setup import LEVELS, setup_logging

if TYPE_CHECKING:
    from .store import Store

log = logging.getLogger("hy2scale.cli")

EXIT_OK = 0
EXIT_ERROR = 1  # anything unexpected
EXIT_USAGE = 2  # argparse's own code for bad arguments
EXIT_DATA_DIR = 3  # data directory missing, not a directory, not writable
EXIT_STORE = 4  # database corrupt, foreign or from a newer release
EXIT_PORT_IN_USE = 5
EXIT_CONFIG = 6  # YAML file missing or malformed, or its values are invalid

DEFAULT_DATA_DIR = "hy2scale"


class CliError(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def prepare_data_dir(path: str, *, create: bool) -> Path:
    """The data directory as an absolute path, created (0700) when asked; it must be writable."""
    data = Path(path).expanduser().absolute()
    if data.exists() and not data.is_dir():
        raise CliError(f"data directory {data} is not a directory", EXIT_DATA_DIR)
    if not data.exists():
        if not create:
            raise CliError(f"data directory {data} does not exist", EXIT_DATA_DIR)
        try:
            data.mkdir(mode=0o700, parents=True)
        except OSError as e:
            raise CliError(f"cannot create data directory {data}: {e.strerror}", EXIT_DATA_DIR) from e
    if not os.access(data, os.W_OK | os.X_OK):
        raise CliError(f"data directory {data} is not writable", EXIT_DATA_DIR)
    return data


def _open_store(data: Path) -> Store:
    # Imported here so `hy2scale version` stays instant.
    from .store import Store, StoreError

    try:
        return Store.open(data)
    except StoreError as e:
        raise CliError(str(e), EXIT_STORE) from e


def cmd_run(args: argparse.Namespace) -> int:
    from .config_io import ConfigError
    from .node import Node, NodeError, NodeOptions, PortInUse, primary_listen, split_host_port
    from .store import StoreError

    # Bad flags must fail before the data directory is created or first run writes anything.
    for flag in (args.api, args.hy2_listen and primary_listen(args.hy2_listen)):
        if flag:
            try:
                split_host_port(flag)
            except ValueError as e:
                raise CliError(str(e), EXIT_USAGE) from e
    data = prepare_data_dir(args.data, create=True)
    options = NodeOptions(api_listen=args.api, hy2_listen=args.hy2_listen, base_path=args.base_path)
    try:
        node = Node(data, options)
    except StoreError as e:
        raise CliError(str(e), EXIT_STORE) from e
    except ConfigError as e:  # an original config.yaml in the data dir that cannot be adopted
        raise CliError(str(e), EXIT_CONFIG) from e
    except NodeError as e:
        raise CliError(str(e), EXIT_USAGE) from e
    try:
        uvloop.run(node.run_until_signal())
    except PortInUse as e:
        raise CliError(str(e), EXIT_PORT_IN_USE) from e
    except NodeError as e:
        raise CliError(str(e), EXIT_ERROR) from e
    except OSError as e:
        # A part (e.g. the hy2 server on UDP) could not bind: still one clear line, not a traceback.
        log.debug("event=run_failed", exc_info=True)
        code = EXIT_PORT_IN_USE if e.errno == errno.EADDRINUSE else EXIT_ERROR
        raise CliError(f"cannot start: {e}", code) from e
    finally:
        node.close()
    return EXIT_OK


def cmd_version(_args: argparse.Namespace) -> int:
    from . import RELAY_PROTOCOL_VERSION

    print(f"hy2scale {__version__} (relay protocol {RELAY_PROTOCOL_VERSION})")
    return EXIT_OK


def cmd_reset_admin(args: argparse.Namespace) -> int:
    from .firstrun import reset_admin

    store = _open_store(prepare_data_dir(args.data, create=False))
    try:
        reset_admin(store)
    finally:
        store.close()
    print("admin credentials reset to admin / admin (change them at the next login)")
    return EXIT_OK


def cmd_export_config(args: argparse.Namespace) -> int:
    from .certs import CertStore
    from .config_io import export_yaml

    data = prepare_data_dir(args.data, create=False)
    store = _open_store(data)
    try:
        text = export_yaml(store, CertStore(data / "tls"))
    finally:
        store.close()
    _write_private(Path(args.file), text)
    print(f"configuration written to {args.file}")
    return EXIT_OK


def cmd_import_config(args: argparse.Namespace) -> int:
    from .certs import CertStore
    from .config_io import ConfigError, import_yaml

    try:
        text = Path(args.file).read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise CliError(f"cannot read {args.file}: {getattr(e, 'strerror', None) or e}", EXIT_CONFIG) from e
    data = prepare_data_dir(args.data, create=True)
    store = _open_store(data)
    try:
        kind = import_yaml(store, CertStore(data / "tls"), text)
    except ConfigError as e:
        raise CliError(f"{args.file}: {e}", EXIT_CONFIG) from e
    finally:
        store.close()
    print(f"imported {kind} configuration from {args.file}")
    return EXIT_OK


def _write_private(path: Path, text: str) -> None:
    """The export holds every password: create it 0600, replace atomically."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError as e:
        raise CliError(f"cannot write {path}: {e.strerror}", EXIT_CONFIG) from e


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hy2scale", description="Hysteria 2 mesh relay node")
    parser.add_argument("--version", action="version", version=f"hy2scale {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, func: Callable[[argparse.Namespace], int], help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--data", default=DEFAULT_DATA_DIR, help="data directory (default: ./hy2scale)")
        # Short commands stay quiet unless something goes wrong; `run` narrates its lifecycle.
        p.add_argument("--log-level", choices=LEVELS, default="info" if name == "run" else "warning")
        p.set_defaults(func=func)
        return p

    run = add("run", cmd_run, "run the node")
    run.add_argument("--api", metavar="HOST:PORT", help="API/UI listen address (default 0.0.0.0:5565)")
    run.add_argument("--hy2-listen", metavar="HOST:PORT", help="hy2 server UDP listen address")
    run.add_argument("--base-path", metavar="PATH", help="UI/API base path (default /scale)")
    add("version", cmd_version, "print the version")
    export = add("export-config", cmd_export_config, "write the configuration as YAML")
    export.add_argument("file", metavar="FILE.yaml")
    imp = add("import-config", cmd_import_config, "replace the configuration with a YAML file")
    imp.add_argument("file", metavar="FILE.yaml")
    add("reset-admin", cmd_reset_admin, "reset the admin login to admin / admin")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # The original is started as `hy2scale --data DIR` (systemd unit, Docker entrypoint): that means run.
    if argv and argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version"):
        argv.insert(0, "run")
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level)
    try:
        return args.func(args)
    except CliError as e:
        print(f"hy2scale: error: {e}", file=sys.stderr)
        return e.code
    except KeyboardInterrupt:
        return 130
    except Exception as e:
        # A bug, not an operator error: the traceback goes to the log (one line), the reason to stderr.
        log.exception("event=unexpected_error command=%s", args.command)
        print(f"hy2scale: error: unexpected {type(e).__name__}: {e}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
