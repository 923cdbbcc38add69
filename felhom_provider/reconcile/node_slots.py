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

    def try_take(self, node: str, order: list[int]) -> int | None:
        """An open descriptor holding one free slot of ``node`` (tried in ``order``), or None."""
        self.directory.mkdir(parents=True, exist_ok=True)
        for index in order:
            fd = os.open(self.path(node, index), os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            return fd
        return None

    @contextmanager
    def hold(
        self,
        node: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> Iterator[None]:
        """Wait for a free slot of ``node`` and hold it for the block."""
        pick = rng or random.Random()
        while True:
            # A random order spreads the processes over the slots instead of all of them
            # trying slot 0 first.
            order = pick.sample(range(self.limit), self.limit)
            fd = self.try_take(node, order)
            if fd is not None:
                break
            sleep(self.poll_s * pick.uniform(0.5, 1.5))
        try:
            yield
        finally:
            os.close(fd)  # closing the descriptor drops the flock
