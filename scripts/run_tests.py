"""Run every test tier in order; fail on any failure and on a tier that collected no tests.

pytest exits 5 when it collects nothing; that must never pass silently, so each tier that
has test files is required to run at least one test. The closing line sums all tiers.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

TIERS = ["unit", "integration", "interop", "privileged", "e2e"]
NO_TESTS_COLLECTED = 5


def _counts(report: Path) -> tuple[int, int, int]:
    """(passed, failed, skipped) from a JUnit XML report."""
    if not report.exists():
        return 0, 0, 0
    suite = ET.parse(report).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    if suite is None:
        return 0, 0, 0
    total, failures, errors, skipped = (
        int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")
    )
    return total - failures - errors - skipped, failures + errors, skipped


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    extra = sys.argv[1:]
    passed = failed = skipped = 0
    ran_any = False
    code = 0
    with tempfile.TemporaryDirectory() as reports:
        for tier in TIERS:
            folder = root / "tests" / tier
            if not any(folder.glob("test_*.py")):
                print(f"tier {tier}: no test files yet")
                continue
            print(f"==== tier {tier}", flush=True)
            report = Path(reports) / f"{tier}.xml"
            code = subprocess.call(
                [sys.executable, "-m", "pytest", str(folder), "-q", "-rs", f"--junitxml={report}", *extra],
                cwd=root,
            )
            tier_passed, tier_failed, tier_skipped = _counts(report)
            passed, failed, skipped = passed + tier_passed, failed + tier_failed, skipped + tier_skipped
            if code == NO_TESTS_COLLECTED:
                print(f"tier {tier}: pytest collected no tests", file=sys.stderr)
                code = 1
                break
            if code != 0:
                break
            ran_any = True
    if code == 0 and not ran_any:
        print("no test tier ran", file=sys.stderr)
        code = 1
    print(f"all tiers: {passed} passed, {failed} failed, {skipped} skipped")
    return code


if __name__ == "__main__":
    sys.exit(main())
