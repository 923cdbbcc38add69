"""Process-wide serialisation: one lock per guest, a bounded number of restores per node
(also across processes in a fleet run, ``node_slots``).

The Pulumi engine calls up to four provider methods at once, in threads of ONE provider
process (design §2.9). The registries live at module level because provider objects are
pickled into state (design §2.11) and must not carry locks. Serialising per guest avoids
PVE's config-lock 500s on back-to-back calls (seed F4); bounding restores per node keeps
the node's disk and PVE's 5 s ``create_and_lock_config`` wait from becoming the bottleneck.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from felhom_provider.reconcile.node_slots import NodeSlots

DEFAULT_RESTORES_PER_NODE = 4

_registry_lock = threading.Lock()
_guest_locks: dict[str, threading.RLock] = {}
_node_slots: dict[tuple[str, int], threading.BoundedSemaphore] = {}
_alloc_locks: dict[str, threading.Lock] = {}
_inflight: set[tuple[str, int]] = set()


def guest_lock(key: str) -> threading.RLock:
    """The lock for one guest, keyed by its owner marker (stable before a VMID exists).

    Re-entrant so that ``create`` may call ``delete`` on an adopted leftover while holding it.
    """
    with _registry_lock:
        lock = _guest_locks.get(key)
        if lock is None:
            lock = _guest_locks[key] = threading.RLock()
        return lock


@contextmanager
def serialised(key: str) -> Iterator[None]:
    """Hold the guest lock for ``key`` for the duration of the block."""
    with guest_lock(key):
        yield


def restore_slots(node: str, limit: int = DEFAULT_RESTORES_PER_NODE) -> threading.BoundedSemaphore:
    """The semaphore bounding concurrent restores on ``node`` (one per node and limit)."""
    if limit < 1:
        raise ValueError("restores per node must be >= 1")
    with _registry_lock:
        sem = _node_slots.get((node, limit))
        if sem is None:
            sem = _node_slots[(node, limit)] = threading.BoundedSemaphore(limit)
        return sem


@contextmanager
def restore_slot(node: str, limit: int = DEFAULT_RESTORES_PER_NODE) -> Iterator[None]:
    """Hold one restore slot of ``node``: this process's (``restore_slots``) and, in a fleet
    run, one of the node's slots shared by every provider process (``node_slots``)."""
    with restore_slots(node, limit):
        shared = NodeSlots.from_environ()
        if shared is None:
            yield
            return
        with shared.hold(node):
            yield


def allocation_lock(node: str) -> threading.Lock:
    """Held from ``/cluster/nextid`` until the restore POST has answered.

    ``nextid`` is not a reservation (design §4.12): two threads asking at once get the
    same id. Once the POST answered, PVE's ``create_and_lock_config`` has written the config,
    so the next ``nextid`` skips it; holding this lock for that short window removes the
    in-process race, and ``already exists`` re-rolls cover other processes.
    """
    with _registry_lock:
        lock = _alloc_locks.get(node)
        if lock is None:
            lock = _alloc_locks[node] = threading.Lock()
        return lock


@contextmanager
def inflight(node: str, vmid: int) -> Iterator[None]:
    """Mark ``vmid`` as being restored by this process (adoption must not wait for it)."""
    with _registry_lock:
        _inflight.add((node, vmid))
    try:
        yield
    finally:
        with _registry_lock:
            _inflight.discard((node, vmid))


def is_inflight(node: str, vmid: int) -> bool:
    """True when a thread of this process is restoring ``vmid`` right now."""
    with _registry_lock:
        return (node, vmid) in _inflight
