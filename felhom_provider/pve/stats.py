"""Request accounting for a ``PveClient``: every HTTP request, and the mutating ones by endpoint.

Benchmarks report "PVE calls per guest" from this; tests use it to prove that a policy did or
did not retry. Each HTTP attempt counts, including retries, polls and attempts that failed.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

MUTATING_METHODS = frozenset({"POST", "PUT", "DELETE"})


@dataclass
class RequestStats:
    """Thread-safe counters keyed by ``"<METHOD> <path template>"``.

    The template keeps ``{node}``/``{vmid}``/``{upid}`` placeholders, so the counts of a fleet
    aggregate per endpoint (``"PUT /nodes/{node}/lxc/{vmid}/config": 3``).
    """

    by_endpoint: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def record(self, method: str, template: str) -> None:
        """Count one HTTP attempt."""
        with self._lock:
            self.by_endpoint[f"{method.upper()} {template}"] += 1

    @property
    def total(self) -> int:
        """All requests, reads and polls included."""
        with self._lock:
            return sum(self.by_endpoint.values())

    @property
    def mutating(self) -> int:
        """Requests with a mutating method (POST, PUT, DELETE)."""
        return sum(self.mutating_by_endpoint().values())

    def mutating_by_endpoint(self) -> dict[str, int]:
        """Mutating requests per ``"<METHOD> <template>"``."""
        with self._lock:
            return {
                k: v for k, v in self.by_endpoint.items() if k.split(" ", 1)[0] in MUTATING_METHODS
            }

    def count(self, method: str, template: str) -> int:
        """Requests sent to one endpoint."""
        with self._lock:
            return self.by_endpoint[f"{method.upper()} {template}"]

    def snapshot(self) -> dict[str, object]:
        """A JSON-friendly copy: ``total``, ``mutating`` and ``by_endpoint``."""
        with self._lock:
            by = dict(self.by_endpoint)
        mutating = sum(v for k, v in by.items() if k.split(" ", 1)[0] in MUTATING_METHODS)
        return {"total": sum(by.values()), "mutating": mutating, "by_endpoint": by}

    def reset(self) -> None:
        """Forget all counts (e.g. between benchmark rounds)."""
        with self._lock:
            self.by_endpoint.clear()
