"""The simulator's two locks are always taken in one order: ``state.mutex``, then the guest
hooks' lock.

Worker tasks hold ``state.mutex`` while they call the guest hooks (restore extracts the
archive into the guest, start boots it). A ``pct exec`` that took ``state.mutex`` while it held
the hooks' lock would deadlock against a restore running at the same moment, after which every
API request hangs. The check below wraps both locks and records any acquisition of
``state.mutex`` by a thread that already holds the hooks' lock.
"""

from __future__ import annotations

import threading
from typing import Any

from felhom_provider.sim.guest import SimGuestHooks
from felhom_provider.sim.server import SimServer
from tests.sim_guest.nodeshell_client import NodeShellClient
from tests.sim_guest.runbook import build_golden, ok, restore, start


class _Tracked:
    """An RLock wrapper that records, per thread, whether it is held."""

    def __init__(self, inner: Any, held: threading.local, name: str, log: list[str]) -> None:
        self.inner, self.held, self.name, self.log = inner, held, name, log

    def _depth(self) -> dict[str, int]:
        if not hasattr(self.held, "depth"):
            self.held.depth = {}
        depth: dict[str, int] = self.held.depth
        return depth

    def acquire(self, *args: Any, **kwargs: Any) -> bool:
        depth = self._depth()
        if self.name == "state" and depth.get("hooks", 0) and not depth.get("state", 0):
            self.log.append(threading.current_thread().name)
        got = bool(self.inner.acquire(*args, **kwargs))
        if got:
            depth[self.name] = depth.get(self.name, 0) + 1
        return got

    def release(self) -> None:
        self._depth()[self.name] -= 1
        self.inner.release()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def test_pct_exec_never_takes_the_state_mutex_inside_the_hooks_lock(
    guest_sim: SimServer, node: NodeShellClient, api: Any
) -> None:
    golden = build_golden(node)
    restore(
        api, guest_sim.state.node, golden, 301, mp0="local-lvm:1,mp=/srv/data", rootfs="local-lvm:8"
    )
    start(api, guest_sim.state.node, 301)
    held = threading.local()
    violations: list[str] = []
    state, hooks = guest_sim.state, guest_sim.state.hooks
    assert isinstance(hooks, SimGuestHooks)
    state.mutex = _Tracked(state.mutex, held, "state", violations)  # type: ignore[assignment]
    hooks.lock = _Tracked(hooks.lock, held, "hooks", violations)  # type: ignore[assignment]

    ok(node.pct_exec(301, "sh", "-c", "echo data > /srv/data/note.txt"))
    assert node.pct_exec(301, "cat", "/srv/data/note.txt").out == "data\n"
    restore(api, guest_sim.state.node, golden, 302)
    start(api, guest_sim.state.node, 302)
    ok(node.pct_exec(302, "hostname"))

    assert violations == [], f"state.mutex taken inside the hooks' lock by {violations}"
