"""At most N stacks in their start-up at once: the CPU-heavy part of a stack's operation.

Before a stack's first guest is touched, its ``pulumi`` command starts the CLI, the language
host, the program and the provider process and loads the state: about a second and a half
of CPU and no PVE work. Twenty stacks started together share the runner machine's cores
fairly, so all twenty finish starting at the same late moment and the node's restore slots
sit idle until then. The gate lets at most ``limit`` stacks start at once (by default two
per CPU: a start-up also waits on files and sockets, so one per CPU would leave cores idle);
a stack leaves the gate as soon as the engine begins its first guest or
golden image (the provider process is up by then), or when its operation ends, and the
next stack starts. The first restores begin after one stack's start-up, not twenty, and
later start-ups overlap earlier stacks' restores.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from pulumi import automation as auto

#: Resource types whose first step ends a stack's start-up: the ones that do PVE work.
WORK_TYPES = ("felhom:Guest", "felhom:GoldenImage")


def default_limit() -> int:
    """Stacks starting at once by default: two per CPU."""
    return 2 * (os.cpu_count() or 1)


def starts_work(event: auto.EngineEvent) -> bool:
    """True for the engine's first step on a guest or golden image (any operation)."""
    pre = event.resource_pre_event
    return pre is not None and pre.metadata.type.endswith(WORK_TYPES)


class StartGate:
    """A bound on stacks in start-up; ``starting()`` holds a place until it is opened."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("--start-parallel must be >= 1")
        self._places = threading.BoundedSemaphore(limit)

    @contextmanager
    def starting(self) -> Iterator[Callable[[], None]]:
        """Wait for a place; yields ``done()``, which frees it (at most once, any thread).

        The place is freed at the latest when the block ends.
        """
        self._places.acquire()
        lock = threading.Lock()
        held = True

        def done() -> None:
            nonlocal held
            with lock:
                if held:
                    held = False
                    self._places.release()

        try:
            yield done
        finally:
            done()
