"""hy2scale: a Hysteria 2 mesh relay node."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hy2scale")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0"

# The relay protocol level we speak to Go peers (DESIGN.md §4.1).
RELAY_PROTOCOL_VERSION = "1.3.4"
