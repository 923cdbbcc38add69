"""VMID candidates under cross-process contention: the first attempt is ``nextid`` itself,
re-rolls fan out over a widening random range, the golden build range is never chosen."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from felhom_provider.reconcile import vmids
from felhom_provider.spec.golden import RESERVED_FIRST, RESERVED_LAST


@pytest.mark.parametrize(
    ("attempt", "spread"),
    [(0, 1), (1, 1), (2, 4), (3, 8), (4, 16), (5, 32), (6, 64), (7, 64), (8, 64)],
)
def test_spread_doubles_from_the_first_reroll_up_to_the_cap(attempt: int, spread: int) -> None:
    assert vmids.spread(attempt) == spread


def test_the_first_attempt_always_takes_nextid() -> None:
    rng = random.Random(7)
    assert {vmids.candidate(123, 1, rng) for _ in range(200)} == {123}


@pytest.mark.parametrize("attempt", [2, 3, 4, 6])
def test_a_reroll_covers_exactly_its_spread_above_nextid(attempt: int) -> None:
    rng = random.Random(attempt)
    seen = {vmids.candidate(500, attempt, rng) for _ in range(4000)}
    assert seen == set(range(500, 500 + vmids.spread(attempt)))


@pytest.mark.parametrize("next_free", [RESERVED_FIRST - 3, RESERVED_FIRST, RESERVED_LAST - 1])
def test_a_candidate_in_the_golden_build_range_falls_back_to_nextid(next_free: int) -> None:
    rng = random.Random(1)
    for _ in range(500):
        chosen = vmids.candidate(next_free, 5, rng)
        assert chosen == next_free or not RESERVED_FIRST <= chosen <= RESERVED_LAST


def test_candidates_just_past_the_golden_range_are_kept() -> None:
    rng = random.Random(3)
    seen = {vmids.candidate(RESERVED_LAST + 1, 3, rng) for _ in range(500)}
    assert seen == set(range(RESERVED_LAST + 1, RESERVED_LAST + 1 + vmids.spread(3)))


def _race(pick: Callable[[int, int], int], processes: int = 10) -> int:
    """Allocators that all ask ``nextid`` in the same instant, round after round; of several
    asking for one free id the first POST wins, the rest re-roll. Returns how many are left
    without an id after ``ATTEMPTS`` rounds."""
    taken: set[int] = set()
    waiting = list(range(processes))
    for attempt in range(1, vmids.ATTEMPTS + 1):
        next_free = min(set(range(100, 1000)) - taken)
        asked = {p: pick(next_free, attempt) for p in waiting}
        winners = set()
        for p, v in sorted(asked.items()):
            if v not in taken:
                winners.add(p)
                taken.add(v)
        waiting = [p for p in waiting if p not in winners]
    return len(waiting)


def test_ten_processes_racing_for_one_node_all_get_an_id_within_the_attempts() -> None:
    rng = random.Random(2024)
    assert [_race(lambda n, a: vmids.candidate(n, a, rng)) for _ in range(300)] == [0] * 300


def test_plain_nextid_rerolls_leave_processes_without_an_id() -> None:
    # What the spread is for: re-asking nextid alone hands one id per round to ten racers.
    assert _race(lambda n, _a: n) == 10 - vmids.ATTEMPTS
