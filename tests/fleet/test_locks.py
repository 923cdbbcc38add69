"""The lock policy: wait (retrying with jitter) or skip, on Pulumi's "stack is locked" error."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from felhom_provider.fleet.workspace import (
    LOCKED_TEXT,
    Outcome,
    StackLockedError,
    lock_holder,
    with_lock_policy,
)

PULUMI_LOCK_ERROR = (
    "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) "
    "to end or delete the lock file with `pulumi cancel`.\n"
    "  postgres://****:****@127.0.0.1:5432/db/.pulumi/locks/organization/felhom/acme/x.json: "
    "created by runner@ci-7 (pid 4242) at 2026-11-29T20:00:00Z"
)


def test_lock_holder_from_pulumis_message() -> None:
    assert LOCKED_TEXT in PULUMI_LOCK_ERROR
    assert lock_holder(PULUMI_LOCK_ERROR) == "runner@ci-7 (pid 4242)"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def __call__(self) -> float:
        return self.now


def locked_then_free(times: int) -> tuple[list[int], Callable[[], Outcome]]:
    calls: list[int] = []

    def attempt() -> Outcome:
        calls.append(1)
        if len(calls) <= times:
            raise StackLockedError("acme", "runner@ci-7 (pid 4242)")
        return Outcome(changes={"same": 3})

    return calls, attempt


def test_wait_retries_until_the_lock_is_free() -> None:
    calls, attempt = locked_then_free(3)
    waits: list[str] = []
    clock = Clock()
    outcome = with_lock_policy(
        attempt,
        on_locked="wait",
        lock_wait_s=60,
        on_wait=lambda e: waits.append(e.holder),
        sleep=clock.sleep,
        clock=clock,
    )
    assert outcome.changes == {"same": 3}
    assert len(calls) == 4
    assert waits == ["runner@ci-7 (pid 4242)"] * 3


def test_wait_gives_up_after_the_deadline() -> None:
    _, attempt = locked_then_free(1000)
    clock = Clock()
    with pytest.raises(StackLockedError, match="acme: locked by runner@ci-7"):
        with_lock_policy(
            attempt,
            on_locked="wait",
            lock_wait_s=10,
            on_wait=lambda e: None,
            sleep=clock.sleep,
            clock=clock,
        )
    assert clock.now >= 10


def test_skip_reports_at_once() -> None:
    calls, attempt = locked_then_free(1)
    with pytest.raises(StackLockedError):
        with_lock_policy(attempt, on_locked="skip", lock_wait_s=60, on_wait=lambda e: None)
    assert len(calls) == 1
