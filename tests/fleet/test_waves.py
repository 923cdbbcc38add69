"""Wave planning (table-driven) and the scheduler's bounds, with instant fake stack runs."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from felhom_provider.fleet.stacks import StackInfo
from felhom_provider.fleet.waves import Bounds, Scheduler, plan_waves


@pytest.mark.parametrize(
    ("n", "canary", "wave_size", "expected"),
    [
        (6, 0, 0, [6]),
        (6, 1, 0, [1, 5]),
        (6, 1, 2, [1, 2, 2, 1]),
        (6, 2, 4, [2, 4]),
        (6, 0, 4, [4, 2]),
        (2, 5, 1, [2]),
        (0, 1, 1, []),
    ],
)
def test_plan_waves(n: int, canary: int, wave_size: int, expected: list[int]) -> None:
    waves = plan_waves(list(range(n)), canary, wave_size)
    assert [len(w) for w in waves] == expected
    assert [x for w in waves for x in w] == list(range(n))  # order kept, nothing lost


def test_plan_waves_rejects_negative_sizes() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        plan_waves([1], -1, 0)


def stacks(n: int, nodes: int = 1) -> list[StackInfo]:
    return [StackInfo(f"s{i}", Path(f"s{i}"), node=f"n{i % nodes}") for i in range(n)]


class Recorder:
    """A fake ``run_one`` that holds each stack until released and records overlap."""

    def __init__(self, fail: frozenset[str] = frozenset(), hold: int = 0) -> None:
        self.fail = fail
        self.hold = hold
        self.cond = threading.Condition()
        self.running: dict[str, str] = {}
        self.peak = 0
        self.peak_node = 0
        self.order: list[tuple[str, int]] = []
        self.skipped: list[tuple[str, int, str]] = []

    def run_one(self, stack: StackInfo, wave: int) -> bool:
        with self.cond:
            self.running[stack.name] = stack.node
            self.order.append((stack.name, wave))
            self.peak = max(self.peak, len(self.running))
            per_node = list(self.running.values()).count(stack.node)
            self.peak_node = max(self.peak_node, per_node)
            self.cond.notify_all()
            # Hold the first stacks until `hold` run together, so the peak shows the bound.
            self.cond.wait_for(lambda: self.peak >= self.hold, timeout=5.0)
            del self.running[stack.name]
        return stack.name not in self.fail

    def skip(self, stack: StackInfo, wave: int, reason: str) -> None:
        self.skipped.append((stack.name, wave, reason))


def test_parallel_bound_is_reached_and_never_exceeded() -> None:
    rec = Recorder(hold=3)
    Scheduler(Bounds(parallel=3), rec.run_one, rec.skip).run([stacks(9)])
    assert rec.peak == 3
    assert len(rec.order) == 9 and not rec.skipped


def test_per_node_bound_holds_across_stacks() -> None:
    rec = Recorder(hold=4)
    Scheduler(Bounds(parallel=8, per_node=2), rec.run_one, rec.skip).run([stacks(8, nodes=2)])
    assert rec.peak_node == 2
    assert rec.peak == 4  # two nodes, two each


def test_waves_run_in_order() -> None:
    rec = Recorder()
    waves = plan_waves(stacks(5), canary=1, wave_size=2)
    Scheduler(Bounds(parallel=4), rec.run_one, rec.skip).run(waves)
    assert [w for _, w in rec.order] == sorted(w for _, w in rec.order)
    assert rec.order[0] == ("s0", 0)


def test_failed_canary_stops_the_rollout() -> None:
    rec = Recorder(fail=frozenset({"s0"}))
    waves = plan_waves(stacks(5), canary=1, wave_size=2)
    scheduler = Scheduler(Bounds(parallel=4, max_failures=0), rec.run_one, rec.skip)
    scheduler.run(waves)
    assert rec.order == [("s0", 0)]
    assert [(name, wave) for name, wave, _ in rec.skipped] == [
        ("s1", 1),
        ("s2", 1),
        ("s3", 2),
        ("s4", 2),
    ]
    assert "more than --max-failures 0" in rec.skipped[0][2]


def test_threshold_allows_that_many_failures() -> None:
    rec = Recorder(fail=frozenset({"s1", "s3"}))
    scheduler = Scheduler(Bounds(parallel=1, max_failures=1), rec.run_one, rec.skip)
    scheduler.run([stacks(6)])
    # One at a time: s1 fails (1, allowed), s3 fails (2 > 1): s4 and s5 never start.
    assert [name for name, _ in rec.order] == ["s0", "s1", "s2", "s3"]
    assert [name for name, _, _ in rec.skipped] == ["s4", "s5"]
    assert scheduler.failures == 2


def test_bounds_reject_nonsense() -> None:
    with pytest.raises(ValueError, match="parallel"):
        Bounds(parallel=0)
