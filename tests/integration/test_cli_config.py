"""``hy2scale export-config`` / ``import-config`` as subprocesses: round trip, original files, bad input."""

from __future__ import annotations

import stat
from pathlib import Path

from hy2scale.node import Node
from tests.fixtures.node_process import NodeProcess, hy2scale

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "original_config.yaml"


def _fresh_node(data: Path) -> None:
    with NodeProcess(data) as node:
        assert node.stop() == 0, node.output()


def test_export_import_round_trip(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    _fresh_node(first)
    out = tmp_path / "export.yaml"
    result = hy2scale("export-config", "--data", str(first), str(out))
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    result = hy2scale("import-config", "--data", str(second), str(out))
    assert result.returncode == 0, result.stderr
    again = tmp_path / "again.yaml"
    assert hy2scale("export-config", "--data", str(second), str(again)).returncode == 0
    assert again.read_text() == out.read_text()
    # The imported node starts with the exported identity and certificate.
    assert (second / "tls" / "default.crt").read_bytes() == (first / "tls" / "default.crt").read_bytes()
    _fresh_node(second)
    final = tmp_path / "final.yaml"
    assert hy2scale("export-config", "--data", str(second), str(final)).returncode == 0
    assert final.read_text() == out.read_text()


def test_import_original_then_run(tmp_path: Path) -> None:
    data = tmp_path / "data"
    result = hy2scale("import-config", "--data", str(data), str(FIXTURE))
    assert result.returncode == 0, result.stderr
    assert "original hy2scale" in result.stdout
    # First run fills in what the original file lacks (the default certificate) and the node starts.
    _fresh_node(data)
    assert (data / "tls" / "default.key").exists()


def test_bad_yaml_changes_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    Node(data).close()  # first run only
    before = tmp_path / "before.yaml"
    assert hy2scale("export-config", "--data", str(data), str(before)).returncode == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("node_id: [unclosed\n")
    result = hy2scale("import-config", "--data", str(data), str(bad))
    assert result.returncode == 6
    assert "malformed YAML" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    result = hy2scale("import-config", "--data", str(data), str(tmp_path / "missing.yaml"))
    assert result.returncode == 6 and "cannot read" in result.stderr
    after = tmp_path / "after.yaml"
    assert hy2scale("export-config", "--data", str(data), str(after)).returncode == 0
    assert after.read_text() == before.read_text()


def test_export_needs_an_existing_data_dir(tmp_path: Path) -> None:
    result = hy2scale("export-config", "--data", str(tmp_path / "nope"), str(tmp_path / "x.yaml"))
    assert result.returncode == 3
    assert not (tmp_path / "x.yaml").exists()


def test_run_refuses_an_original_config_it_cannot_adopt(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "config.yaml").write_text("node_id: x\nserver: [1, 2]\n")
    result = hy2scale("run", "--data", str(data), "--api", "127.0.0.1:1")
    assert result.returncode == 6
    assert "config.yaml: server must be a mapping or null" in result.stderr
    assert (data / "config.yaml").read_text() == "node_id: x\nserver: [1, 2]\n"
