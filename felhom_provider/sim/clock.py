"""The simulator's clocks and the task scheduler that runs on them.

Tasks take time on a real node (a restore about 20 s). The simulator lets tests choose:

* ``ScaledClock(time_scale=0)``: every task finishes before its UPID is returned (instant);
* ``ScaledClock(time_scale=x)``: a task of base duration ``d`` takes ``d * x`` wall seconds;
* ``ManualClock``: simulated time moves only when a test calls ``advance(seconds)``, so a
  test can hold a task "running" for as long as it likes without sleeping.

Timestamps (UPID start time, archive names, ``ctime``) come from the same clock.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable

# Base task durations in seconds, roughly what a small CT takes on an SSD-backed node.
DEFAULT_DURATIONS: dict[str, float] = {
    "vzcreate": 15.0,
    "vzrestore": 20.0,
    "vzstart": 3.0,
    "vzstop": 3.0,
    "vzshutdown": 5.0,
    "vzdump": 30.0,
    "resize": 2.0,
    "vzdestroy": 2.0,
    "vztemplate": 2.0,
    "imgdel": 1.0,
}


class Clock:
    """Base clock: ``now()`` for timestamps, ``duration()`` for how long a task type runs."""

    manual = False

    def __init__(self, durations: dict[str, float] | None = None) -> None:
        self.durations = dict(DEFAULT_DURATIONS)
        self.durations.update(durations or {})

    def now(self) -> float:
        """Current time in epoch seconds."""
        raise NotImplementedError

    def duration(self, task_type: str) -> float:
        """Clock seconds a task of ``task_type`` runs; 0 means it completes inline."""
        raise NotImplementedError


class ScaledClock(Clock):
    """Wall-clock time; task durations multiplied by ``time_scale`` (0 = instant)."""

    def __init__(self, time_scale: float = 0.0, durations: dict[str, float] | None = None) -> None:
        super().__init__(durations)
        self.time_scale = time_scale

    def now(self) -> float:
        """Wall-clock epoch seconds."""
        return time.time()

    def duration(self, task_type: str) -> float:
        """Base duration scaled; unknown task types take 1 s before scaling."""
        return self.durations.get(task_type, 1.0) * self.time_scale


class ManualClock(Clock):
    """Simulated time that moves only through ``advance``; tasks use the base durations."""

    manual = True

    def __init__(
        self, start: float | None = None, durations: dict[str, float] | None = None
    ) -> None:
        super().__init__(durations)
        self._now = time.time() if start is None else start
        self._lock = threading.Lock()

    def now(self) -> float:
        """The simulated epoch seconds."""
        with self._lock:
            return self._now

    def duration(self, task_type: str) -> float:
        """Base duration (unscaled): advance the clock past it to finish the task."""
        return self.durations.get(task_type, 1.0)

    def advance(self, seconds: float) -> None:
        """Move simulated time forward (the scheduler then runs what became due)."""
        with self._lock:
            self._now += seconds


class Scheduler:
    """Runs callbacks when the clock reaches their due time.

    For a ``ScaledClock`` a daemon thread sleeps until the earliest due time. For a
    ``ManualClock`` nothing runs until ``run_due()`` is called (``advance`` does that), so
    tests are deterministic.
    """

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._stopped = False
        self._thread: threading.Thread | None = None
        if not clock.manual:
            self._thread = threading.Thread(target=self._loop, name="sim-scheduler", daemon=True)
            self._thread.start()

    def at(self, due: float, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the clock reads ``due`` or later."""
        with self._cond:
            heapq.heappush(self._heap, (due, next(self._seq), callback))
            self._cond.notify_all()

    def pending(self) -> int:
        """How many callbacks are waiting."""
        with self._cond:
            return len(self._heap)

    def run_due(self) -> int:
        """Run every callback whose time has come; returns how many ran."""
        ran = 0
        while True:
            with self._cond:
                if not self._heap or self._heap[0][0] > self.clock.now():
                    return ran
                _, _, callback = heapq.heappop(self._heap)
            callback()
            ran += 1

    def _loop(self) -> None:
        while True:
            with self._cond:
                if self._stopped:
                    return
                timeout = None
                if self._heap:
                    timeout = max(0.0, self._heap[0][0] - self.clock.now())
                if timeout is None or timeout > 0:
                    self._cond.wait(timeout)
                if self._stopped:
                    return
            self.run_due()

    def stop(self) -> None:
        """Stop the thread; callbacks still queued never run (like workers of a dead daemon)."""
        with self._cond:
            self._stopped = True
            self._heap.clear()
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
