"""``Applier.wait`` reports a long task's progress: every poll seen, one line per ~10 s."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

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
