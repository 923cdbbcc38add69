"""Rollout order and bounds: waves, concurrency, the per-node bound and the failure threshold.

``plan_waves`` is pure: a canary wave of ``canary`` stacks, then waves of ``wave_size``.
``Scheduler.run`` executes the waves one after the other. Inside a wave at most ``parallel``
stacks run at once, and at most ``per_node`` of them on the same PVE node (stacks on one node
share its disks and PVE's per-node locks, whatever process runs them). Once more than
``max_failures`` stacks failed, nothing new starts: stacks already running finish, every stack
not started is reported as skipped, and so is every later wave.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from felhom_provider.fleet.stacks import StackInfo

T = TypeVar("T")


def plan_waves(items: Sequence[T], canary: int, wave_size: int) -> list[list[T]]:
    """``items`` cut into a canary wave of ``canary`` and waves of ``wave_size`` (0 = the rest)."""
    if canary < 0 or wave_size < 0:
        raise ValueError("canary and wave size must be >= 0")
    remaining = list(items)
    waves: list[list[T]] = []
    if canary and remaining:
        waves.append(remaining[:canary])
        remaining = remaining[canary:]
    step = wave_size or len(remaining)
    while remaining:
        waves.append(remaining[:step])
        remaining = remaining[step:]
    return waves


@dataclass(frozen=True)
class Bounds:
    """How much runs at once and when to stop."""

    parallel: int = 4
    per_node: int = 0  # 0: only ``parallel`` bounds a node
    max_failures: int = 0

    def __post_init__(self) -> None:
        if self.parallel < 1 or self.per_node < 0 or self.max_failures < 0:
            raise ValueError("parallel must be >= 1, per-node and max-failures >= 0")


#: What ``run_one`` returns: True when the stack succeeded.
RunOne = Callable[[StackInfo, int], bool]
#: Called for every stack never started: (stack, wave index, reason).
Skip = Callable[[StackInfo, int, str], None]


class Scheduler:
    """Runs stacks wave by wave within ``Bounds`` on worker threads."""

    def __init__(self, bounds: Bounds, run_one: RunOne, skip: Skip) -> None:
        self.bounds = bounds
        self.run_one = run_one
        self.skip = skip
        self.failures = 0
        self._cond = threading.Condition()
        self._running: dict[str, int] = {}  # node -> stacks running on it

    @property
    def stopped(self) -> bool:
        """True once failures exceed the threshold."""
        return self.failures > self.bounds.max_failures

    def _startable(self, pending: list[StackInfo], running: int) -> StackInfo | None:
        if running >= self.bounds.parallel:
            return None
        for stack in pending:
            busy = self._running.get(stack.node, 0)
            if not self.bounds.per_node or busy < self.bounds.per_node:
                return stack
        return None

    def _worker(self, stack: StackInfo, wave: int) -> None:
        ok = False
        try:
            ok = self.run_one(stack, wave)
        finally:
            with self._cond:
                self._running[stack.node] -= 1
                if not ok:
                    self.failures += 1
                self._cond.notify_all()

    def run_wave(self, stacks: Sequence[StackInfo], wave: int) -> None:
        """Run one wave to completion (or until the threshold stops it)."""
        pending = list(stacks)
        threads: list[threading.Thread] = []
        with self._cond:
            while pending and not self.stopped:
                running = sum(self._running.values())
                stack = self._startable(pending, running)
                if stack is None:
                    self._cond.wait()
                    continue
                pending.remove(stack)
                self._running[stack.node] = self._running.get(stack.node, 0) + 1
                thread = threading.Thread(
                    target=self._worker, args=(stack, wave), name=f"fleet-{stack.name}"
                )
                threads.append(thread)
                thread.start()
        for thread in threads:
            thread.join()
        for stack in pending:
            self.skip(stack, wave, self.stop_reason())

    def stop_reason(self) -> str:
        """Why stacks were not started."""
        return (
            f"not started: {self.failures} stack(s) failed, more than --max-failures "
            f"{self.bounds.max_failures}"
        )

    def run(self, waves: Sequence[Sequence[StackInfo]]) -> None:
        """Run every wave in order; later waves are skipped once the threshold is crossed."""
        for index, wave in enumerate(waves):
            if self.stopped:
                for stack in wave:
                    self.skip(stack, index, self.stop_reason())
                continue
            self.run_wave(wave, index)
