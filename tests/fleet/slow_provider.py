"""A dynamic provider whose ``create`` waits for company: it measures the server's concurrency.

Each ``create`` joins a shared count of calls in progress and waits until ``target`` calls
are in progress at once (or ``wait`` seconds pass), then returns the highest count it saw.
The highest count over all calls is how many calls the server runs at the same time.
"""

from __future__ import annotations

import threading
from typing import Any

from pulumi.dynamic import CreateResult, ResourceProvider

_cond = threading.Condition()
_state = {"active": 0, "peak": 0}


class SlowProvider(ResourceProvider):
    """``create(target, wait)`` returns ``{"peak": <most calls seen in progress at once>}``."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        target, wait = int(props["target"]), float(props["wait"])
        with _cond:
            _state["active"] += 1
            _state["peak"] = max(_state["peak"], _state["active"])
            _cond.notify_all()
            # The peak, not the current count: once reached, leaving calls release the rest.
            _cond.wait_for(lambda: _state["peak"] >= target, timeout=wait)
            peak = _state["peak"]
            _state["active"] -= 1
        return CreateResult(f"slow-{props['n']}", {"peak": peak})


class AddressProvider(ResourceProvider):
    """``create`` returns the engine address the provider's own plumbing sees."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        from felhom_provider.provider_process.engine_log import engine_address  # noqa: PLC0415

        return CreateResult("address", {"address": engine_address() or ""})
