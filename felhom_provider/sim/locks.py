"""Per-CT config locks: the flock on ``/run/lock/lxc/pve-config-<vmid>.lock``.

PVE serialises every change to a CT through this flock (pve-container ``Config.pm``
``config_file_lock``; pve-guest-common ``AbstractConfig.pm`` ``lock_config`` waits 10 s,
``create_and_lock_config`` 5 s). A holder may be a request thread or a running task, and
a task's lock is released by whichever thread finishes the task, so this is an ownership
table with a condition variable rather than ``threading.Lock`` objects.

The wait is a setting (``lock_wait``, default 10 s) so tests can use a few milliseconds.
"""

from __future__ import annotations

import threading
import time


class ConfigLocks:
    """Table of held CT config locks with timed waits."""

    def __init__(self, lock_wait: float = 10.0) -> None:
        self.lock_wait = lock_wait
        self._cond = threading.Condition()
        self._held: dict[int, str] = {}

    def acquire(self, vmid: int, owner: str, timeout: float | None = None) -> bool:
        """Take the lock for ``vmid``; wait up to ``timeout`` (default ``lock_wait``)."""
        wait = self.lock_wait if timeout is None else timeout
        deadline = time.monotonic() + wait
        with self._cond:
            while vmid in self._held:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            self._held[vmid] = owner
            return True

    def release(self, vmid: int) -> None:
        """Release the lock (no error if it is not held)."""
        with self._cond:
            self._held.pop(vmid, None)
            self._cond.notify_all()

    def holder(self, vmid: int) -> str | None:
        """Who holds the lock for ``vmid`` (a task UPID, ``request`` or ``fault``), if anyone."""
        with self._cond:
            return self._held.get(vmid)

    def held(self) -> dict[int, str]:
        """Snapshot of all held locks."""
        with self._cond:
            return dict(self._held)
