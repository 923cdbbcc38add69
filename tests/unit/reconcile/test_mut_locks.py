"""The process-wide lock registries: one object per key, the restore bound, in-flight marks."""

from __future__ import annotations

import threading
import uuid

import pytest

from felhom_provider.reconcile import locks


def _key() -> str:
    # The registries are process-wide: a fresh key per call makes each test create its entry.
    return uuid.uuid4().hex


def test_one_reentrant_lock_per_guest() -> None:
    key = _key()
    lock = locks.guest_lock(key)
    assert isinstance(lock, type(threading.RLock()))
    assert locks.guest_lock(key) is lock
    assert locks.guest_lock(_key()) is not lock
    with locks.serialised(key), locks.serialised(key):  # re-entrant
        held: list[bool] = []
        other = threading.Thread(target=lambda: held.append(lock.acquire(blocking=False)))
        other.start()
        other.join()
        assert held == [False]  # another thread waits while it is held
    assert lock.acquire(blocking=False)
    lock.release()


@pytest.mark.parametrize("limit", [1, 2, 4])
def test_restore_slots_bound_concurrent_restores_per_node_and_limit(limit: int) -> None:
    node = _key()
    sem = locks.restore_slots(node, limit)
    assert isinstance(sem, threading.BoundedSemaphore)
    assert locks.restore_slots(node, limit) is sem
    assert locks.restore_slots(_key(), limit) is not sem
    taken = [sem.acquire(blocking=False) for _ in range(limit + 1)]
    assert taken == [True] * limit + [False]
    for _ in range(limit):
        sem.release()
    with pytest.raises(ValueError, match="released too many times"):
        sem.release()  # bounded: a stray release is a bug, not an extra slot


def test_default_restores_per_node() -> None:
    assert locks.DEFAULT_RESTORES_PER_NODE == 4
    node = _key()
    assert locks.restore_slots(node) is locks.restore_slots(node, 4)


@pytest.mark.parametrize("limit", [0, -1])
def test_restore_slots_refuse_a_limit_below_one(limit: int) -> None:
    with pytest.raises(ValueError, match=r"^restores per node must be >= 1$"):
        locks.restore_slots("mut-node", limit)


def test_one_allocation_lock_per_node() -> None:
    node = _key()
    lock = locks.allocation_lock(node)
    assert isinstance(lock, type(threading.Lock()))
    assert locks.allocation_lock(node) is lock
    assert locks.allocation_lock(_key()) is not lock
    with lock:
        assert not lock.acquire(blocking=False)  # not re-entrant: one allocation at a time


def test_inflight_marks_only_its_node_and_vmid_and_clears_on_error() -> None:
    assert not locks.is_inflight("mut-n", 901)
    with locks.inflight("mut-n", 901):
        assert locks.is_inflight("mut-n", 901)
        assert not locks.is_inflight("mut-n2", 901) and not locks.is_inflight("mut-n", 902)
    assert not locks.is_inflight("mut-n", 901)
    with pytest.raises(RuntimeError), locks.inflight("mut-n", 903):
        assert locks.is_inflight("mut-n", 903)
        raise RuntimeError("restore failed")
    assert not locks.is_inflight("mut-n", 903)
