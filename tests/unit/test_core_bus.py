"""The change bus calls listeners of a topic, survives a failing listener, rejects unknown topics."""

from __future__ import annotations

import pytest

from hy2scale.bus import ChangeBus


async def test_publish_runs_sync_and_async_listeners_despite_a_failure() -> None:
    bus = ChangeBus()
    calls: list[str] = []

    def failing(topic: str) -> None:
        raise RuntimeError("boom")

    async def async_listener(topic: str) -> None:
        calls.append(f"async:{topic}")

    bus.subscribe("users", failing)
    bus.subscribe("users", async_listener)
    bus.subscribe("users", lambda topic: calls.append(f"sync:{topic}"))
    bus.subscribe("rules", lambda topic: calls.append("wrong"))
    await bus.publish("users")
    assert calls == ["async:users", "sync:users"]


async def test_unknown_topic_is_an_error() -> None:
    bus = ChangeBus()
    with pytest.raises(ValueError):
        bus.subscribe("nope", lambda t: None)
    with pytest.raises(ValueError):
        await bus.publish("nope")
