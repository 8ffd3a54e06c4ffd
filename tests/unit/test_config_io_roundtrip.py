"""Property: any JSON-shaped entity survives export -> YAML -> import unchanged (YAML quoting traps included)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hy2scale.certs import CertStore
from hy2scale.config_io import export_config, export_yaml, import_yaml
from hy2scale.store import Store

# Strings YAML 1.1 would read as something else when written bare.
TRAPS = [
    "yes",
    "No",
    "on",
    "off",
    "null",
    "~",
    "0123",
    "0x1f",
    "1e3",
    ".inf",
    "2027-01-31",
    "12:30",
    "- x",
    "#",
]
text = st.one_of(st.sampled_from(TRAPS), st.text(max_size=20))
scalar = st.one_of(st.none(), st.booleans(), st.integers(-(2**62), 2**62), text)
value = st.recursive(
    scalar,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(text, inner, max_size=3)),
    max_leaves=8,
)
fields = st.dictionaries(
    st.text(min_size=1, max_size=10).filter(lambda k: k not in {"id", "username"}), value
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    users=st.lists(st.tuples(text, fields), max_size=4, unique_by=lambda t: t[0]),
    layout=st.dictionaries(text, st.fixed_dictionaries({"x": st.integers(), "y": st.integers()}), max_size=3),
)
def test_any_entities_round_trip(users: list[tuple[str, dict]], layout: dict) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        a, b = Path(tmp, "a"), Path(tmp, "b")
        a.mkdir()
        b.mkdir()
        src, dst = Store.open(a), Store.open(b)
        try:
            for i, (username, extra) in enumerate(users):
                src.users.create({**extra, "id": f"u{i}", "username": username or f"empty{i}"})
            src.sections.put("graph_layout", layout)
            certs_a, certs_b = CertStore(a / "tls"), CertStore(b / "tls")
            import_yaml(dst, certs_b, export_yaml(src, certs_a))
            assert export_config(dst, certs_b) == export_config(src, certs_a)
        finally:
            src.close()
            dst.close()
