"""``reconcile.apply``: how a lost answer is searched for (the client's own lost dispatch, the
search bound with a fast poll) and what the destroy task waits under (mutation-testing gaps)."""

from __future__ import annotations

from typing import Any

import pytest

from felhom_provider.errors import ConnectionLostError, DispatchLostError
from felhom_provider.reconcile.apply import Applier

from .fakes import FakeClock, FakePve

OWNER = "felhom/dev/a"


def _applier(pve: Any, **kw: Any) -> tuple[Applier, FakeClock, list[str]]:
    clock, lines = FakeClock(), list[str]()
    kw.setdefault("task_timeout_s", 600.0)
    return Applier(pve, lines.append, clock=clock, sleep=clock.sleep, **kw), clock, lines


class Searched(FakePve):
    """Records which search each lost answer used."""

    def recover_dispatch(self, err: Any, *, slack_s: float = 2.0) -> str | None:
        self.calls.append(("recover_dispatch", err))
        return super().recover_dispatch(err, slack_s=slack_s)


def test_a_lost_dispatch_is_searched_with_the_clients_own_record() -> None:
    # DispatchLostError carries the send time: recover_dispatch searches from it, not from a
    # guessed window.
    pve = Searched(cts={5: {}})
    lost = DispatchLostError("reset", task_type="vzstart", vmid=5, sent_at=100.0)

    def send() -> str:
        pve.start(5)
        raise lost

    app, _, _ = _applier(pve, lock_window_s=0.0)
    upid = app.dispatch("vzstart", 5, send)
    assert upid == next(iter(pve.tasks))
    assert ("recover_dispatch", lost) in pve.calls
    assert pve.mutating() == ["start"]


def test_a_plain_lost_answer_is_searched_in_the_task_list() -> None:
    pve = Searched(cts={5: {}})

    def send() -> str:
        pve.start(5)
        raise ConnectionLostError("reset")

    app, _, _ = _applier(pve, lock_window_s=0.0)
    assert app.dispatch("vzstart", 5, send) == next(iter(pve.tasks))
    assert [c[0] for c in pve.calls if "recover" in c[0] or "find" in c[0]] == ["find_task"]


@pytest.mark.parametrize(("poll", "reads"), [(0.5, 25), (0.25, 49)])
def test_recover_with_a_poll_under_a_second_searches_through_the_whole_window(
    poll: float, reads: int
) -> None:
    # The read cap only guards against a clock that does not move; with a moving clock the
    # window (12 s) decides: the read at 12 s is the last one.
    pve = FakePve()
    app, clock, _ = _applier(pve, find_attempts=1, lock_window_s=12.0, poll_s=poll)
    assert app.recover(ConnectionLostError("x"), "vzstart", 5) is None
    assert len([c for c in pve.calls if c[0] == "find_task"]) == reads
    assert clock.now == pytest.approx(12.0)


def test_destroy_waits_for_its_destroy_task_by_name() -> None:
    pve = FakePve(cts={5: {"description": f"felhom-owner={OWNER}\n"}}, running={5})
    app, _, lines = _applier(pve)
    assert app.destroy(5, OWNER) is True
    stop, destroy = pve.tasks
    assert f"stop CT 5: waiting for task {stop}" in lines
    assert f"destroy CT 5: waiting for task {destroy}" in lines
