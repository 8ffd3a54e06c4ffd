"""Per-address login throttling: after too many wrong logins from one address, refuse it for a while."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class _Record:
    failures: list[float] = field(default_factory=list)
    locked_until: float = 0.0


class LoginThrottle:
    """Counts failures in a sliding window; ``max_failures`` within ``window_s`` locks the address.

    Only the failing address is locked, so a brute-force run from one place never locks the admin out
    from another. The table is bounded: the oldest entries are dropped first.
    """

    def __init__(
        self,
        max_failures: int = 5,
        window_s: float = 300.0,
        lockout_s: float = 60.0,
        max_addresses: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.lockout_s = lockout_s
        self.max_addresses = max_addresses
        self._clock = clock
        self._records: dict[str, _Record] = {}

    def retry_after(self, address: str) -> float:
        """Seconds until ``address`` may try again; 0 when it may try now."""
        record = self._records.get(address)
        if record is None:
            return 0.0
        return max(0.0, record.locked_until - self._clock())

    def failure(self, address: str) -> None:
        now = self._clock()
        record = self._records.pop(address, None) or _Record()
        record.failures = [t for t in record.failures if now - t < self.window_s]
        record.failures.append(now)
        if len(record.failures) >= self.max_failures:
            record.locked_until = now + self.lockout_s
            record.failures.clear()
        self._records[address] = record  # re-insert so dict order is least recently failed first
        while len(self._records) > self.max_addresses:
            self._records.pop(next(iter(self._records)))

    def success(self, address: str) -> None:
        self._records.pop(address, None)
