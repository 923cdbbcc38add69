"""``reconcile.apply`` at its edges: the exact destroy call, every bound of the lock wait, the
re-send count, the lost-answer search and ``poll_until`` (mutation-testing gaps)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from felhom_provider.errors import (
    ConnectionLostError,
    HostKeyError,
    NotFoundError,
    NotRunningError,
    OwnershipError,
    PermanentPveError,
    PveError,
    ReadFailedError,
)
from felhom_provider.reconcile.apply import (
    HEARTBEAT_S,
    LOCK_WINDOW_S,
    NEVER_STARTED,
    TASK_CLOCK_SKEW_S,
    Applier,
    effect_of,
    lease_of,
    poll_until,
    upid_of,
)

from .fakes import FakeClock, FakePve

OWNER = "felhom/dev/a"
MARKED = {"description": f"felhom-owner={OWNER}\n"}


def _applier(pve: Any, **kw: Any) -> tuple[Applier, FakeClock, list[str]]:
    clock, lines = FakeClock(), list[str]()
    kw.setdefault("task_timeout_s", 600.0)
    return Applier(pve, lines.append, clock=clock, sleep=clock.sleep, **kw), clock, lines


@dataclass
class Recording(FakePve):
    """Keeps the keyword arguments of destroy and the ``since`` of each task search."""

    destroy_kw: list[dict[str, Any]] = field(default_factory=list)
    since: list[float] = field(default_factory=list)

    def destroy(self, vmid: int, **kw: Any) -> str:  # type: ignore[override]
        self.destroy_kw.append(kw)
        return super().destroy(vmid, **kw)

    def find_task(self, type: str, vmid: int | None, since: float) -> str | None:
        self.since.append(since)
        return super().find_task(type, vmid, since)


def test_module_bounds() -> None:
    # PVE waits 10 s for a config lock before the worker forks; 12 s leaves pveproxy slack.
    assert (TASK_CLOCK_SKEW_S, HEARTBEAT_S, LOCK_WINDOW_S) == (30.0, 10.0, 12.0)


@pytest.mark.parametrize(
    ("found", "want"),
    [(None, None), ({"upid": "U:1"}, "U:1"), ({"id": 1}, None), ("U:2", "U:2")],
)
def test_upid_of(found: Any, want: Any) -> None:
    assert upid_of(found) == want


def test_destroy_stops_then_purges_with_unreferenced_disks_and_no_force() -> None:
    pve = Recording()
    pve.cts[5] = dict(MARKED)
    pve.running.add(5)
    app, _, lines = _applier(pve)
    assert app.destroy(5, OWNER) is True
    assert pve.mutating() == ["stop", "destroy"]
    assert pve.destroy_kw == [{"purge": True, "destroy_unreferenced_disks": True, "force": False}]
    assert 5 not in pve.cts
    assert "stopping CT 5" in lines and "destroying CT 5 (purge, unreferenced disks)" in lines


def test_destroy_of_a_stopped_ct_does_not_stop_it() -> None:
    pve = Recording()
    pve.cts[5] = dict(MARKED)
    app, _, _ = _applier(pve)
    assert app.destroy(5, OWNER) is True
    assert pve.mutating() == ["destroy"]


def test_destroy_accepts_a_ct_stopped_meanwhile() -> None:
    class StoppedMeanwhile(Recording):
        def stop(self, vmid: int) -> str:
            self.running.discard(vmid)
            raise NotRunningError(f"CT {vmid} not running")

    pve = StoppedMeanwhile()
    pve.cts[5] = dict(MARKED)
    pve.running.add(5)
    app, _, _ = _applier(pve)
    assert app.destroy(5, OWNER) is True and 5 not in pve.cts


@pytest.mark.parametrize(
    ("fail", "want"),
    [("status", False), ("destroy", True)],
)
def test_destroy_counts_a_ct_gone_meanwhile(fail: str, want: bool) -> None:
    class GoneMeanwhile(Recording):
        def status(self, vmid: int) -> dict[str, Any]:
            if fail == "status":
                raise NotFoundError("gone")
            return super().status(vmid)

        def destroy(self, vmid: int, **kw: Any) -> str:  # type: ignore[override]
            raise NotFoundError("gone")

    pve = GoneMeanwhile()
    pve.cts[5] = dict(MARKED)
    app, _, _ = _applier(pve)
    assert app.destroy(5, OWNER) is want


def test_destroy_refuses_a_ct_still_locked_after_the_wait() -> None:
    pve = Recording()
    pve.cts[5] = {**MARKED, "lock": "create"}
    app, clock, _ = _applier(pve, lock_wait_s=30.0, poll_s=5.0)
    with pytest.raises(PveError) as info:
        app.destroy(5, OWNER)
    assert type(info.value) is PveError
    assert info.value.message == (
        "CT 5 is still locked (create) after 30s; the task holding it died: "
        "`pct unlock 5` on the node, then delete it"
    )
    assert info.value.context == {"vmid": 5, "step": "destroy"}
    assert pve.mutating() == [] and clock.now == 30.0


def test_destroy_refusal_names_both_markers() -> None:
    pve = Recording()
    pve.cts[5] = {"description": "felhom-owner=x/y/z\n"}
    app, _, _ = _applier(pve)
    with pytest.raises(OwnershipError) as info:
        app.destroy(5, OWNER)
    assert info.value.message == f"CT 5 carries owner 'x/y/z', not {OWNER!r}; not touched"
    assert info.value.context == {"vmid": 5, "step": "destroy"}


def test_destroy_of_a_trusted_unmarked_ct_still_refuses_a_foreign_one() -> None:
    pve = Recording()
    pve.cts[5] = {"description": "felhom-owner=x/y/z\n"}
    app, _, _ = _applier(pve)
    with pytest.raises(OwnershipError):
        app.destroy(5, OWNER, trust_unmarked=True)


def test_destroy_that_leaves_our_ct_is_a_verify_failure() -> None:
    class Survives(Recording):
        def destroy(self, vmid: int, **kw: Any) -> str:  # type: ignore[override]
            return self._task("vzdestroy", vmid)

    pve = Survives()
    pve.cts[5] = dict(MARKED)
    app, _, _ = _applier(pve)
    with pytest.raises(PveError) as info:
        app.destroy(5, OWNER)
    assert info.value.message == "CT 5 still exists after destroy"
    assert info.value.context == {"vmid": 5, "step": "verify-gone"}


# --- wait_unlocked --------------------------------------------------------------------


class UnlocksAfter(FakePve):
    """The CT's lock goes away after ``reads`` config reads."""

    reads_left: int = 0

    def get_config(self, vmid: int, *, current: bool = False) -> dict[str, Any]:
        cfg = super().get_config(vmid)
        if self.reads_left <= 0:
            self.cts[vmid].pop("lock", None)
            cfg.pop("lock", None)
        self.reads_left -= 1
        return cfg


@pytest.mark.parametrize(
    ("task_timeout_s", "lock_wait_s", "waited"),
    [(600.0, 120.0, 120.0), (50.0, 120.0, 50.0), (7.0, 7.0, 7.0)],
)
def test_wait_unlocked_is_bounded_by_the_smaller_limit(
    task_timeout_s: float, lock_wait_s: float, waited: float
) -> None:
    pve = FakePve()
    pve.cts[5] = {"lock": "create"}
    app, clock, _ = _applier(pve, task_timeout_s=task_timeout_s, lock_wait_s=lock_wait_s)
    config = app.wait_unlocked(5)
    assert config is not None and config["lock"] == "create"
    assert clock.now == waited


def test_wait_unlocked_defaults_to_two_minutes_polled_every_second() -> None:
    pve = FakePve()
    pve.cts[5] = {"lock": "create"}
    app, clock, _ = _applier(pve)
    app.wait_unlocked(5)
    assert clock.now == 120.0
    assert [n for n, _ in pve.calls].count("get_config") == 121


def test_wait_unlocked_returns_once_the_lock_is_gone_or_none_when_the_ct_is() -> None:
    pve = UnlocksAfter()
    pve.cts[5] = {"lock": "create", "hostname": "h"}
    pve.reads_left = 3
    app, clock, _ = _applier(pve, poll_s=2.0)
    config = app.wait_unlocked(5)
    assert config is not None and "lock" not in config and config["hostname"] == "h"
    assert clock.now == 6.0
    assert app.wait_unlocked(6) is None


# --- dispatch, recover ----------------------------------------------------------------


class NeverHandled(FakePve):
    """Every start POST is lost before PVE handles it: no task, no effect."""

    sends: int = 0

    def start(self, vmid: int) -> str:
        self.sends += 1
        raise ConnectionLostError("reset")


@pytest.mark.parametrize("attempts", [1, 2, 3])
def test_resend_count_is_exactly_resend_attempts(attempts: int) -> None:
    pve = NeverHandled()
    pve.cts[5] = {}
    app, _, lines = _applier(pve, resend_attempts=attempts, lock_window_s=2.0)
    with pytest.raises(ConnectionLostError):
        app.dispatch("vzstart", 5, lambda: pve.start(5))
    assert pve.sends == attempts
    again = [line for line in lines if "sending it again" in line]
    assert again == [
        f"no vzstart task and no effect on CT 5 after 2s: PVE never handled it; "
        f"sending it again ({n + 1}/{attempts})"
        for n in range(1, attempts)
    ]


def test_default_resend_attempts_is_three() -> None:
    pve = NeverHandled()
    pve.cts[5] = {}
    app, _, _ = _applier(pve)
    with pytest.raises(ConnectionLostError):
        app.dispatch("vzstart", 5, lambda: pve.start(5))
    assert pve.sends == 3


def test_a_kind_without_a_visible_effect_is_never_resent() -> None:
    pve = FakePve()
    pve.cts[5] = {"rootfs": "local-lvm:vm-5-disk-0,size=8G"}
    sends: list[int] = []

    def send() -> str:
        sends.append(1)
        raise ConnectionLostError("reset")

    app, _, _ = _applier(pve, lock_window_s=1.0)
    assert effect_of(pve, "resize", 5) is None
    with pytest.raises(ConnectionLostError):
        app.dispatch("resize", 5, send)
    assert sends == [1]


def test_a_failed_effect_read_counts_as_seen_and_is_not_resent() -> None:
    class EffectUnreadable(NeverHandled):
        def status(self, vmid: int) -> dict[str, Any]:
            raise ReadFailedError("PVE 500 on GET status")

    pve = EffectUnreadable()
    pve.cts[5] = {}
    app, _, _ = _applier(pve, lock_window_s=1.0)
    with pytest.raises(ConnectionLostError):
        app.dispatch("vzstart", 5, lambda: pve.start(5))
    assert pve.sends == 1


def test_a_permanent_effect_read_error_also_counts_as_seen() -> None:
    class EffectRefused(NeverHandled):
        def status(self, vmid: int) -> dict[str, Any]:
            raise PermanentPveError("no")

    pve = EffectRefused()
    pve.cts[5] = {}
    app, _, _ = _applier(pve, lock_window_s=1.0)
    with pytest.raises(ConnectionLostError):
        app.dispatch("vzstart", 5, lambda: pve.start(5))
    assert pve.sends == 1


def test_dispatch_of_a_start_takes_the_never_started_mark_first() -> None:
    pve = FakePve()
    pve.cts[5] = {"description": f"felhom-owner={OWNER}\n{NEVER_STARTED}\n"}
    app, _, _ = _applier(pve)
    upid = app.dispatch("vzstart", 5, lambda: pve.start(5))
    assert pve.mutating() == ["put_config", "start"]
    assert pve.cts[5]["description"] == f"felhom-owner={OWNER}\n"
    assert upid == next(iter(pve.tasks))


def test_dispatch_of_other_kinds_leaves_the_description() -> None:
    pve = FakePve()
    pve.cts[5] = {"description": f"{NEVER_STARTED}\n"}
    pve.running.add(5)
    app, _, _ = _applier(pve)
    app.dispatch("vzstop", 5, lambda: pve.stop(5))
    assert pve.mutating() == ["stop"]


def test_lost_answer_with_its_task_found_is_followed_not_resent() -> None:
    pve = Recording()
    pve.cts[5] = {}

    def send() -> str:
        pve.running.add(5)
        pve._task("vzstart", 5)
        raise ConnectionLostError("reset")

    app, _, lines = _applier(pve)
    before = time.time()
    upid = app.dispatch("vzstart", 5, send)
    assert upid == next(iter(pve.tasks))
    # Searched from a clock-skew margin before the send (the node's clock may run behind).
    assert len(pve.since) == 1
    assert before - TASK_CLOCK_SKEW_S - 1 <= pve.since[0] <= time.time() - TASK_CLOCK_SKEW_S
    assert lines == [
        "answer to vzstart for CT 5 lost (reset); finding its task",
        f"found vzstart task {upid}; following it (not re-sent)",
    ]


@pytest.mark.parametrize(
    ("find_attempts", "window", "poll", "reads"),
    [(5, 0.0, 1.0, 5), (2, 3.0, 1.0, 4), (1, 0.0, 1.0, 1), (3, 2.5, 0.5, 6)],
)
def test_recover_reads_at_least_find_attempts_and_through_the_window(
    find_attempts: int, window: float, poll: float, reads: int
) -> None:
    pve = Recording()
    app, clock, _ = _applier(pve, find_attempts=find_attempts, lock_window_s=window, poll_s=poll)
    assert app.recover(ConnectionLostError("x"), "vzstart", 5) is None
    assert len(pve.since) == reads
    assert clock.now == pytest.approx(poll * (reads - 1))


def test_recover_with_a_tiny_poll_still_terminates() -> None:
    pve = Recording()
    app, _, _ = _applier(pve, find_attempts=1, lock_window_s=0.05, poll_s=0.0)
    assert app.recover(ConnectionLostError("x"), "vzstart", 5) is None
    assert 2 <= len(pve.since) <= 7


def test_recover_lets_a_permanent_search_error_through() -> None:
    class Refused(FakePve):
        def find_task(self, type: str, vmid: int | None, since: float) -> str | None:
            raise PermanentPveError("no audit right")

    app, _, _ = _applier(Refused())
    with pytest.raises(PermanentPveError):
        app.recover(ConnectionLostError("x"), "vzstart", 5)


# --- wait -----------------------------------------------------------------------------


def test_wait_passes_the_task_timeout_and_names_the_task() -> None:
    seen: dict[str, Any] = {}

    class Client(FakePve):
        def wait_task(self, upid: str, timeout_s: float, on_progress: Any = None) -> Any:
            seen.update(upid=upid, timeout_s=timeout_s, on_progress=on_progress)
            return "result"

    app, _, lines = _applier(Client(), task_timeout_s=321.0)
    assert app.wait("UPID:x", "start CT 5") == "result"
    assert seen["upid"] == "UPID:x" and seen["timeout_s"] == 321.0
    assert callable(seen["on_progress"])
    assert lines == ["start CT 5: waiting for task UPID:x"]


def test_heartbeat_reports_at_the_interval_boundary_and_never_for_a_stopped_task() -> None:
    app, clock, lines = _applier(FakePve(), heartbeat_s=10.0)
    beat = app.heartbeat("x")
    clock.now = 9.9
    beat({"status": "running"})
    clock.now = 10.0
    beat({"status": "running"})
    clock.now = 19.0
    beat({"status": "running"})
    clock.now = 25.0
    beat({"status": "stopped"})
    clock.now = 20.0
    beat({"status": "running"})
    assert lines == ["x: task still running after 10s", "x: task still running after 20s"]


def test_run_dispatches_then_waits() -> None:
    pve = FakePve()
    pve.cts[5] = {}
    app, _, _ = _applier(pve)
    result = app.run("vzstart", 5, "start CT 5", lambda: pve.start(5))
    assert result.exitstatus == "OK"
    assert [n for n, _ in pve.calls][-2:] == ["start", "wait_task"]


# --- poll_until -----------------------------------------------------------------------


def test_poll_until_returns_the_first_truthy_value() -> None:
    clock = FakeClock()
    values: Any = iter([None, {}, HostKeyError("no keys"), ReadFailedError("500"), OSError(), "ip"])

    def probe() -> Any:
        value = next(values)
        if isinstance(value, BaseException):
            raise value
        return value

    assert poll_until(clock, clock.sleep, 100.0, 2.0, probe) == "ip"
    assert clock.now == 10.0


def test_poll_until_gives_none_at_the_deadline_after_a_last_probe() -> None:
    clock = FakeClock()
    probes: list[float] = []

    def probe() -> None:
        probes.append(clock.now)

    assert poll_until(clock, clock.sleep, 4.0, 2.0, probe) is None
    assert probes == [0.0, 2.0, 4.0]


def test_poll_until_raises_permanent_errors() -> None:
    clock = FakeClock()

    def probe() -> None:
        raise PermanentPveError("refused")

    with pytest.raises(PermanentPveError):
        poll_until(clock, clock.sleep, 4.0, 2.0, probe)
    assert clock.now == 0.0


# --- second pass: survivors of the first measurement ------------------------------------


@pytest.mark.parametrize(
    ("kind", "exists", "running", "seen"),
    [
        ("vzrestore", True, False, True), ("vzrestore", False, False, False),
        ("vzcreate", True, False, True), ("vzcreate", False, False, False),
        ("vzstart", True, True, True), ("vzstart", True, False, False),
        ("vzstop", True, False, True), ("vzstop", True, True, False),
        ("vzshutdown", True, False, True), ("vzshutdown", True, True, False),
        ("vzshutdown", False, False, False),
        ("vzdestroy", False, False, True), ("vzdestroy", True, False, False),
    ],
)  # fmt: skip
def test_effect_of_each_kind(kind: str, exists: bool, running: bool, seen: bool) -> None:
    pve = FakePve()
    if exists:
        pve.cts[5] = {}
    if running:
        pve.running.add(5)
    effect = effect_of(pve, kind, 5)
    assert effect is not None and effect() is seen


def test_recover_reads_at_least_five_times_by_default() -> None:
    pve = Recording()
    app, _, _ = _applier(pve, lock_window_s=0.0)
    assert app.recover(ConnectionLostError("x"), "vzstart", 5) is None
    assert len(pve.since) == 5


def test_mark_started_tries_four_times_by_default_and_sends_the_digest() -> None:
    class Refuses(FakePve):
        digests: list[Any] = []

        def put_config(self, vmid: int, params: Any = None, delete: Any = (),
                       digest: str | None = None, **options: Any) -> None:  # fmt: skip
            self.digests.append(digest)
            raise PermanentPveError("detected modified configuration")

    pve = Refuses()
    pve.cts[5] = {"description": f"{NEVER_STARTED}\n"}
    app, _, _ = _applier(pve)
    with pytest.raises(PermanentPveError):
        app.mark_started(5)
    assert pve.digests == [pve.get_config(5)["digest"]] * 4


def test_mark_started_without_a_description_changes_nothing() -> None:
    pve = FakePve()
    pve.cts[5] = {"hostname": "h"}
    app, _, _ = _applier(pve)
    app.mark_started(5)
    assert pve.mutating() == []


def test_run_names_the_task_it_waits_for() -> None:
    pve = FakePve()
    pve.cts[5] = {}
    app, _, lines = _applier(pve)
    app.run("vzstart", 5, "start CT 5", lambda: pve.start(5))
    assert lines == [f"start CT 5: waiting for task {next(iter(pve.tasks))}"]


def test_lease_skips_other_nics_by_either_mac_field() -> None:
    mac = "BC:24:11:00:00:10"
    ifaces = [
        {"name": "eth0", "hardware-address": "BC:24:11:00:00:99", "inet": "10.0.0.1/24"},
        {"name": "eth1", "hwaddr": mac.lower(), "inet": "10.0.0.2/24"},
    ]
    assert lease_of(ifaces, mac) == "10.0.0.2"
    assert lease_of(ifaces[:1], mac) is None


@pytest.mark.parametrize("lost", ["stop", "destroy"])
def test_destroy_follows_its_own_tasks_when_their_answers_are_lost(lost: str) -> None:
    class Loses(FakePve):
        def stop(self, vmid: int) -> str:
            upid = super().stop(vmid)
            if lost == "stop":
                raise ConnectionLostError("reset")
            return upid

        def destroy(self, vmid: int, **kw: Any) -> str:  # type: ignore[override]
            upid = super().destroy(vmid, **kw)
            if lost == "destroy":
                raise ConnectionLostError("reset")
            return upid

    pve = Loses()
    pve.cts[5] = dict(MARKED)
    pve.running.add(5)
    app, _, lines = _applier(pve, lock_window_s=0.0)
    assert app.destroy(5, OWNER) is True
    kind = "vzstop" if lost == "stop" else "vzdestroy"
    assert ("find_task", (kind, 5)) in pve.calls
    assert pve.mutating() == ["stop", "destroy"]
    assert f"answer to {kind} for CT 5 lost (reset); finding its task" in lines
    assert f"stop CT 5: waiting for task {next(iter(pve.tasks))}" in lines
