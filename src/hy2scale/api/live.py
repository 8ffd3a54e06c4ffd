"""Reading live state from the relay: the API shows the store's view when no relay is running."""

from __future__ import annotations

import inspect
from typing import Any


async def live_call(node: Any, method: str, default: Any, *args: Any) -> Any:
    """``node.relay.<method>(*args)`` (sync or async), or ``default`` when there is no relay or no such method."""
    relay = getattr(node, "relay", None)
    fn = getattr(relay, method, None) if relay is not None else None
    if fn is None:
        return default
    result = fn(*args)
    if inspect.isawaitable(result):
        result = await result
    return result
