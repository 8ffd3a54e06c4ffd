"""Share URIs and port specs."""

from __future__ import annotations

import pytest

from hy2scale.hysteria import ParseError, ShareLink, build_uri, format_ports, parse_ports, parse_uri
from hy2scale.hysteria.ports import split_host_ports


def test_official_doc_example() -> None:
    link = parse_uri(
        "hysteria2://letmein@example.com:123,5000-6000/?insecure=1&obfs=salamander"
        "&obfs-password=gawrgura&pinSHA256=deadbeef&sni=real.example.com"
    )
    assert (link.host, link.ports, link.auth) == ("example.com", "123,5000-6000", "letmein")
    assert link.insecure and link.sni == "real.example.com" and link.pin_sha256 == "deadbeef"
    assert (link.obfs, link.obfs_password) == ("salamander", "gawrgura")
    cfg = link.to_client_config()
    assert cfg.obfs_password == "gawrgura" and cfg.ports == "123,5000-6000"


def test_userpass_defaults_fragment_and_extra_keys() -> None:
    link = parse_uri("hy2://us%40er:p%3Ass@[2001:db8::1]/?foo=bar#My%20Node")
    assert link.auth == "us@er:p:ss"
    assert (link.host, link.ports, link.name) == ("2001:db8::1", "443", "My Node")
    assert link.extra == {"foo": "bar"}


def test_original_mport_sets_hopping_ports() -> None:
    link = parse_uri("hysteria2://pw@1.2.3.4:443/?mport=20000-30000&sni=x")
    assert link.ports == "20000-30000"


def test_pin_is_normalised() -> None:
    assert parse_uri("hy2://a@h:1/?pinSHA256=AB:cd-EF").pin_sha256 == "abcdef"


@pytest.mark.parametrize(
    "uri",
    [
        "http://a@h:1/",
        "hysteria2://a@:1/",
        "hy2://a@h:1/?obfs=salamander",
        "hy2://a@h:x/",
        "hy2://a@h:1/?insecure=maybe",
    ],
)
def test_invalid(uri: str) -> None:
    with pytest.raises(ParseError):
        parse_uri(uri)


def test_build_roundtrip() -> None:
    link = ShareLink(
        host="::1",
        ports="443,5000-6000",
        auth="user:p@ss",
        sni="s.example",
        insecure=True,
        pin_sha256="ab",
        obfs="salamander",
        obfs_password="o p",
        name="node one",
    )
    uri = build_uri(link)
    assert uri.startswith("hysteria2://user:p%40ss@[::1]:443,5000-6000/?")
    assert parse_uri(uri) == link


def test_ports() -> None:
    assert parse_ports("443") == [443]
    assert parse_ports("5565,6000") == [5565, 6000]
    assert parse_ports("20000-20003,10") == [10, 20000, 20001, 20002, 20003]
    assert parse_ports(7) == [7]
    assert len(parse_ports("all")) == 65535
    assert format_ports([1, 2, 3, 7, 9, 10]) == "1-3,7,9-10"
    for bad in ("", "1,,2", "x", "70000", "0"):
        with pytest.raises(ParseError):
            parse_ports(bad)


def test_split_host_ports() -> None:
    assert split_host_ports("0.0.0.0:443") == ("0.0.0.0", "443")
    assert split_host_ports("[::]:5565,6000") == ("::", "5565,6000")
    assert split_host_ports(":20000-30000") == ("", "20000-30000")
