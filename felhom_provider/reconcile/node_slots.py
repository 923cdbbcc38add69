"""Restore slots per PVE node, shared by every provider process on this machine.

A fleet run starts one ``pulumi up`` per stack, and so one provider process per stack. Each
process bounds its own restores (``locks.restore_slots``, ``felhom:limits.restoresPerNode``),
but nothing bounded the node as a whole except the number of stacks the runner let run at
once. That ties the node's restore bound to whole stacks: a stack holds its share while its
CLI, program and provider start and after its restores ended, so the node idles while stacks
start and finish, and a runner that starts more stacks to hide that overruns the node.

With ``FELHOM_NODE_SLOTS_DIR`` and ``FELHOM_NODE_RESTORES`` set (the fleet runner's
``--node-restores``), every restore also takes one of ``FELHOM_NODE_RESTORES`` slots of its
node, whichever process it runs in. A slot is the file ``<dir>/<node>.<i>.slot``, held by an
exclusive ``flock`` on it. The kernel drops a flock when its holder's descriptor closes, so a
provider that is killed never leaves a slot taken. The slots bound the processes of one
machine; runners on several machines each bring their own bound (docs/fleet.md).
"""

from __future__ import annotations

import fcntl
import os
import random
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ENV_DIR = "FELHOM_NODE_SLOTS_DIR"
ENV_LIMIT = "FELHOM_NODE_RESTORES"
# PVE node names are host names (pve-cluster: letters, digits and hyphens).
_NODE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,62}")


@dataclass(frozen=True)
class NodeSlots:
    """``limit`` restore slots per node, as lock files under ``directory``."""

    directory: Path
    limit: int
    poll_s: float = 0.1

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> NodeSlots | None:
        """The slots the fleet runner configured, or None outside a fleet run."""
        env = os.environ if environ is None else environ
        directory, limit = env.get(ENV_DIR), env.get(ENV_LIMIT)
        if not directory or not limit:
            return None
        if not limit.isdigit() or int(limit) < 1:
            raise ValueError(f"{ENV_LIMIT} must be a whole number >= 1, got {limit!r}")
        return cls(Path(directory), int(limit))

    def path(self, node: str, index: int) -> Path:
        """The lock file of slot ``index`` of ``node``."""
        if not _NODE_RE.fullmatch(node):
            raise ValueError(f"not a PVE node name: {node!r}")
        return self.directory / f"{node}.{index}.slot"

    def _open_all(self, node: str) -> list[int]:
        """Descriptors of every slot file of ``node`` (created owner-only on first use)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        return [
            os.open(self.path(node, i), os.O_RDWR | os.O_CREAT, 0o600) for i in range(self.limit)
        ]

    @staticmethod
    def _lock_one(fds: list[int], order: list[int]) -> int | None:
        """Take the first free slot in ``order``; its index, or None when all are held."""
        for index in order:
            try:
                fcntl.flock(fds[index], fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            return index
        return None

    def try_take(self, node: str, order: list[int]) -> int | None:
        """An open descriptor holding one free slot of ``node`` (tried in ``order``), or None."""
        fds = self._open_all(node)
        taken = self._lock_one(fds, order)
        for index, fd in enumerate(fds):
            if index != taken:
                os.close(fd)
        return None if taken is None else fds[taken]

    @contextmanager
    def hold(
        self,
        node: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> Iterator[None]:
        """Wait for a free slot of ``node`` and hold it for the block.

        The slot files are opened once and only ``flock`` is retried while waiting: with
        many providers queued on one node, re-opening every file each poll adds up.
        """
        pick = rng or random.Random()
        fds = self._open_all(node)
        try:
            # A random order spreads the processes over the slots instead of all of them
            # trying slot 0 first.
            while self._lock_one(fds, pick.sample(range(self.limit), self.limit)) is None:
                sleep(self.poll_s * pick.uniform(0.5, 1.5))
            yield
        finally:
            for fd in fds:
                os.close(fd)  # closing the held slot's descriptor drops its flock
