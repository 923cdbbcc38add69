"""Rollout staging: how many guests of one stack may roll at once, and stop after a failure.

``felhom:rollout: {maxParallel, pauseOnFailure}`` (default one at a time, pause on failure).
The Pulumi engine calls ``update`` of several guests in threads of ONE provider process per
``pulumi up`` (design §2.9), so a process-wide registry keyed by stack is exactly "this run".
Like ``locks``, it lives at module level because provider objects are pickled.

After a failed roll with ``pauseOnFailure``, every later roll of that stack in this process
is refused with an error naming the guest that failed; those guests stay on the old image.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from felhom_provider.errors import ConfigError, FelhomError


@dataclass(frozen=True)
class RolloutSettings:
    """``felhom:rollout`` normalised: ``max_parallel`` >= 1, ``pause_on_failure``."""

    max_parallel: int = 1
    pause_on_failure: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.max_parallel, int) or isinstance(self.max_parallel, bool):
            raise ConfigError("felhom:rollout.maxParallel", "must be an integer")
        if self.max_parallel < 1:
            raise ConfigError(
                "felhom:rollout.maxParallel", f"must be >= 1, got {self.max_parallel}"
            )
        if not isinstance(self.pause_on_failure, bool):
            raise ConfigError("felhom:rollout.pauseOnFailure", "must be true or false")

    @classmethod
    def from_config(cls, raw: Mapping[str, Any] | None) -> RolloutSettings:
        """From the stack value (``{maxParallel, pauseOnFailure}``; unknown keys refused)."""
        data = dict(raw or {})
        unknown = sorted(set(data) - {"maxParallel", "pauseOnFailure"})
        if unknown:
            raise ConfigError("felhom:rollout", f"unknown keys {unknown}")
        return cls(
            max_parallel=data.get("maxParallel", 1),
            pause_on_failure=data.get("pauseOnFailure", True),
        )


class RolloutGate:
    """Bounds concurrent rolls of one stack and remembers the first failure."""

    def __init__(self, stack: str, settings: RolloutSettings) -> None:
        self.stack = stack
        self.settings = settings
        self._slots = threading.BoundedSemaphore(settings.max_parallel)
        self._lock = threading.Lock()
        self._failed: str | None = None

    @property
    def failed(self) -> str | None:
        """``"<guest>: <error>"`` of the failure that paused this rollout, or None."""
        with self._lock:
            return self._failed

    def _refuse_if_paused(self, guest: str) -> None:
        failed = self.failed
        if failed is not None:
            raise FelhomError(
                f"rollout of stack {self.stack} paused after a failed roll ({failed}); "
                f"{guest} stays on its current golden image. Fix the cause and run again",
                guest=guest,
                step="rollout",
            )

    @contextmanager
    def slot(self, guest: str, *, recovery: bool = False) -> Iterator[None]:
        """Hold one of the stack's roll slots while ``guest`` rolls.

        Refuses at once (and after waiting for a slot) once the rollout is paused, except
        for a ``recovery`` (finishing or rolling back a roll a killed run left: a guest must
        never stay half-rolled because another one failed). A failure inside the block
        pauses the rollout when ``pause_on_failure`` is set.
        """
        if not recovery:
            self._refuse_if_paused(guest)
        with self._slots:
            if not recovery:
                self._refuse_if_paused(guest)
            try:
                yield
            except BaseException as exc:
                if self.settings.pause_on_failure:
                    with self._lock:
                        if self._failed is None:
                            self._failed = f"{guest}: {exc}"
                raise


_registry_lock = threading.Lock()
_gates: dict[str, RolloutGate] = {}


def gate(stack: str, settings: RolloutSettings | None = None) -> RolloutGate:
    """The process-wide gate of ``stack``; the first caller's settings fix it for the run."""
    with _registry_lock:
        found = _gates.get(stack)
        if found is None:
            found = _gates[stack] = RolloutGate(stack, settings or RolloutSettings())
        return found


def reset(stack: str | None = None) -> None:
    """Forget one stack's gate (or all): a new run in the same process starts afresh."""
    with _registry_lock:
        if stack is None:
            _gates.clear()
        else:
            _gates.pop(stack, None)
