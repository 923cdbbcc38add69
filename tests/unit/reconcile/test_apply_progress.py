"""``Applier``: a long task's progress (one line per ~10 s at most); destroy's verify-gone."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from felhom_provider.errors import PveError
from felhom_provider.reconcile.apply import HEARTBEAT_S, Applier

from .fakes import FakeClock


class PollingClient:
    """``wait_task`` that polls ``polls`` times, ``every`` seconds apart, then stops OK."""

    def __init__(self, clock: FakeClock, polls: int, every: float) -> None:
        self.clock, self.polls, self.every = clock, polls, every
        self.seen = 0

    def wait_task(
        self,
        upid: Any,
        timeout_s: float,
        on_progress: Callable[[Mapping[str, Any]], None] | None = None,
    ) -> str:
        assert on_progress is not None  # the engine always asks for per-poll status
        for _ in range(self.polls):
            self.clock.sleep(self.every)
            self.seen += 1
            on_progress({"status": "running", "upid": upid})
        on_progress({"status": "stopped", "exitstatus": "OK", "upid": upid})
        return "OK"


def _wait(polls: int, every: float) -> tuple[list[str], PollingClient]:
    clock, lines = FakeClock(), list[str]()
    client = PollingClient(clock, polls, every)
    applier = Applier(
        client,  # type: ignore[arg-type]
        lines.append,
        clock=clock,
        sleep=clock.sleep,
        task_timeout_s=600.0,
    )
    assert applier.wait("UPID:x", "restore CT 101") == "OK"
    return lines, client


def test_long_task_reports_at_most_one_line_per_heartbeat() -> None:
    # 60 polls 2 s apart: a 120 s restore; a line every 10 s, not one per poll.
    lines, client = _wait(polls=60, every=2.0)
    running = [line for line in lines if "still running" in line]
    assert client.seen == 60
    assert len(running) == int(120 // HEARTBEAT_S)
    assert running[0] == "restore CT 101: task still running after 10s"
    assert running[-1] == "restore CT 101: task still running after 120s"
    assert lines[0] == "restore CT 101: waiting for task UPID:x"


def test_short_task_adds_no_lines() -> None:
    lines, _ = _wait(polls=3, every=1.0)
    assert lines == ["restore CT 101: waiting for task UPID:x"]


class ReusedVmidClient:
    """A CT of ``owner`` that is destroyed, after which ``next_owner`` takes its VMID."""

    def __init__(self, owner: str, next_owner: str | None) -> None:
        self.owner, self.next_owner, self.destroyed = owner, next_owner, False

    def get_config(self, vmid: int, *, current: bool = False) -> dict[str, Any]:
        who = self.next_owner if self.destroyed else self.owner
        return {"description": f"felhom-owner={who}\n"}

    def status(self, vmid: int) -> dict[str, Any]:
        return {"status": "stopped"}

    def destroy(self, vmid: int, **_: Any) -> str:
        self.destroyed = True
        return "UPID:x"

    def wait_task(self, upid: Any, timeout_s: float, on_progress: Any = None) -> str:
        return "OK"


def _destroy(client: ReusedVmidClient) -> bool:
    clock = FakeClock()
    applier = Applier(
        client,  # type: ignore[arg-type]
        lambda _line: None,
        clock=clock,
        sleep=clock.sleep,
        task_timeout_s=60.0,
    )
    return applier.destroy(101, "felhom/dev/a")


def test_destroy_counts_a_reused_vmid_as_gone() -> None:
    # The destroy task ended OK and another guest's restore took VMID 101 at once.
    assert _destroy(ReusedVmidClient("felhom/dev/a", "felhom/dev/b")) is True


def test_destroy_still_reports_our_ct_when_it_survives() -> None:
    with pytest.raises(PveError, match="still exists"):
        _destroy(ReusedVmidClient("felhom/dev/a", "felhom/dev/a"))
