"""Login throttling: per address, sliding window, lockout expiry, bounded table."""

from __future__ import annotations

from hy2scale.api.throttle import LoginThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_locks_after_max_failures_and_only_that_address():
    clock = Clock()
    t = LoginThrottle(max_failures=3, window_s=60, lockout_s=30, clock=clock)
    for _ in range(2):
        t.failure("1.1.1.1")
    assert t.retry_after("1.1.1.1") == 0
    t.failure("1.1.1.1")
    assert t.retry_after("1.1.1.1") == 30
    assert t.retry_after("2.2.2.2") == 0
    clock.now += 10
    assert t.retry_after("1.1.1.1") == 20
    clock.now += 20
    assert t.retry_after("1.1.1.1") == 0


def test_failures_outside_the_window_do_not_count():
    clock = Clock()
    t = LoginThrottle(max_failures=3, window_s=60, lockout_s=30, clock=clock)
    t.failure("a")
    t.failure("a")
    clock.now += 61
    t.failure("a")
    assert t.retry_after("a") == 0


def test_success_clears_the_record():
    clock = Clock()
    t = LoginThrottle(max_failures=2, clock=clock)
    t.failure("a")
    t.success("a")
    t.failure("a")
    assert t.retry_after("a") == 0


def test_table_is_bounded_dropping_the_oldest():
    t = LoginThrottle(max_failures=1, lockout_s=60, max_addresses=3, clock=Clock())
    for address in ("a", "b", "c", "d"):
        t.failure(address)
    assert t.retry_after("a") == 0
    assert all(t.retry_after(x) > 0 for x in ("b", "c", "d"))
