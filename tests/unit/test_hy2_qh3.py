"""The qh3 client backend's local fixes, without a network."""

from __future__ import annotations

import ssl

from qh3.h3.connection import Setting

from hy2scale.hysteria.qh3conn import Qh3H3Connection, client_configuration, new_connection


def _configuration(**kw: object) -> object:
    args: dict[str, object] = {
        "sni": "hy2.test",
        "idle_timeout": 30.0,
        "conn_window": 1 << 20,
        "stream_window": 1 << 18,
        "insecure": False,
        "ca": "",
    }
    args.update(kw)
    return client_configuration(**args)  # type: ignore[arg-type]


def test_h3_settings_leave_out_h3_datagram() -> None:
    h3 = Qh3H3Connection(new_connection(_configuration()))  # type: ignore[arg-type]
    settings = h3._get_local_settings()
    # quic-go would start its own datagram reader on this setting and eat a Hysteria datagram.
    assert Setting.H3_DATAGRAM not in settings
    assert Setting.QPACK_MAX_TABLE_CAPACITY in settings


def test_client_configuration() -> None:
    qc = _configuration(insecure=True)
    assert qc.is_client and qc.alpn_protocols == ["h3"]  # type: ignore[attr-defined]
    assert qc.max_datagram_frame_size == 65536  # type: ignore[attr-defined]
    assert qc.verify_mode == ssl.CERT_NONE  # type: ignore[attr-defined]
    # 1452 is only the ceiling: qh3 starts at 1280 and probes the path upwards.
    assert qc.max_datagram_size == 1452 and qc.probe_datagram_size  # type: ignore[attr-defined]
    assert _configuration().verify_mode != ssl.CERT_NONE  # type: ignore[attr-defined]
