"""Host probes and listen-spec parsing, checked against this machine's real state."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

from hy2scale import hostprobe
from hy2scale.api.schemas_b.common import parse_listen


def test_port_free_sees_real_listeners():
    with socket.socket() as tcp:
        tcp.bind(("127.0.0.1", 0))
        tcp.listen()
        port = tcp.getsockname()[1]
        assert hostprobe.port_free(port, "tcp") is False
    assert hostprobe.port_free(port, "tcp") is True
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        port = udp.getsockname()[1]
        assert hostprobe.port_free(port, "udp") is False
    assert hostprobe.port_free(port, "sctp") is False


def test_l2tp_capability_names_the_first_missing_piece():
    cap = hostprobe.l2tp_capability()
    if not hostprobe.has_net_admin():
        assert not cap.capable and "NET_ADMIN" in cap.reason
    elif shutil.which("xl2tpd") is None:
        assert not cap.capable and cap.reason == "xl2tpd not installed"
    elif not Path("/dev/ppp").exists():
        assert not cap.capable and "/dev/ppp" in cap.reason
    assert cap.capable == (cap.reason == "")


def test_ikev2_capability_matches_installed_tools():
    cap = hostprobe.ikev2_capability()
    needed = (
        hostprobe.has_net_admin()
        and hostprobe.charon_path() is not None
        and shutil.which("swanctl") is not None
        and Path("/proc/net/xfrm_stat").exists()
    )
    assert cap.capable == needed
    assert cap.capable == (cap.reason == "")


@pytest.mark.parametrize(
    ("spec", "parsed"),
    [
        ("0.0.0.0:1080", ("0.0.0.0", 1080)),
        (":8080", ("", 8080)),
        ("[::1]:443", ("::1", 443)),
        ("proxy.example.com:3128", ("proxy.example.com", 3128)),
    ],
)
def test_parse_listen_accepts(spec, parsed):
    assert parse_listen(spec) == parsed


@pytest.mark.parametrize(
    "spec", ["1080", "host:", "host:0", "host:65536", "[::1]443", "a b:1", "1.2.3.4.5:1"]
)
def test_parse_listen_refuses(spec):
    with pytest.raises(ValueError):
        parse_listen(spec)
