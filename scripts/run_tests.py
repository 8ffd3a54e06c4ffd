"""Run every test tier in order; fail on any failure and on a tier that collected no tests.

pytest exits 5 when it collects nothing; that must never pass silently, so each tier that
has test files is required to run at least one test.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TIERS = ["unit", "integration", "interop", "privileged", "e2e"]
NO_TESTS_COLLECTED = 5


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    extra = sys.argv[1:]
    ran_any = False
    for tier in TIERS:
        folder = root / "tests" / tier
        if not any(folder.glob("test_*.py")):
            print(f"tier {tier}: no test files yet")
            continue
        print(f"==== tier {tier}", flush=True)
        code = subprocess.call([sys.executable, "-m", "pytest", str(folder), "-q", "-rs", *extra], cwd=root)
        if code == NO_TESTS_COLLECTED:
            print(f"tier {tier}: pytest collected no tests", file=sys.stderr)
            return 1
        if code != 0:
            return code
        ran_any = True
    if not ran_any:
        print("no test tier ran", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
