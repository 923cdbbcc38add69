"""``reconcile.provision`` step by step: the restore POST's exact overrides and journal entry,
re-roll bounds, which failures keep their undo, and adoption's choices (mutation-testing gaps)."""

from __future__ import annotations

import random
import time
from typing import Any

import pytest

from felhom_provider.errors import (
    AlreadyExistsError,
    ConnectionLostError,
    PermissionDeniedError,
    ReadFailedError,
    VerificationError,
)
from felhom_provider.pve.props import parse_pct_conf
from felhom_provider.reconcile import locks
from felhom_provider.reconcile.apply import NEVER_STARTED, TASK_CLOCK_SKEW_S, Applier
from felhom_provider.reconcile.journal import Journal
from felhom_provider.reconcile.plan import check_archive_config, plan_restore
from felhom_provider.reconcile.provision import (
    Run,
    adopt,
    config_or_none,
    never_started,
    restore,
)
from felhom_provider.reconcile.undo import DestroyCT

from .fakes import GOLDEN_CONF, GOLDEN_MAC, FakeClock, FakePve
from .test_engine_fakes import OWNER, engine, spec

GOLDEN = parse_pct_conf(GOLDEN_CONF)


def _run(pve: FakePve, **over: Any) -> tuple[Run, Applier, list[str]]:
    clock, lines = FakeClock(), list[str]()
    app = Applier(pve, lines.append, clock=clock, sleep=clock.sleep, task_timeout_s=60)
    return Run(spec(**over), Journal(subject="x"), lines.append), app, lines


def test_destroy_undo_names_node_vmid_and_owner() -> None:
    run, _, _ = _run(FakePve())
    assert run.destroy_undo(7) == DestroyCT(vmid=7, node="pve", owner=OWNER)
    assert (run.step, run.vmid, run.facts) == ("begin", None, None)


def test_config_or_none() -> None:
    pve = FakePve()
    pve.cts[3] = {"hostname": "h"}
    _, app, _ = _run(pve)
    assert config_or_none(app, 3) == {"hostname": "h", "digest": pve.get_config(3)["digest"]}
    assert config_or_none(app, 4) is None


@pytest.mark.parametrize(
    ("description", "want"),
    [
        (f"felhom-owner=x\n{NEVER_STARTED}\n", True),
        (f"{NEVER_STARTED}", True),
        (f"{NEVER_STARTED}-not\n", False),
        ("", False),
        (None, False),
    ],
)
def test_never_started(description: str | None, want: bool) -> None:
    assert never_started({"description": description}) is want


# --- restore --------------------------------------------------------------------------


class Captures(FakePve):
    """Keeps the overrides of every restore POST."""

    sent: list[dict[str, Any]]

    def restore_lxc(self, vmid: int, archive: str, overrides: Any) -> str:
        if not hasattr(self, "sent"):
            self.sent = []
        self.sent.append({"vmid": vmid, "archive": archive, **overrides})
        return super().restore_lxc(vmid, archive, overrides)


def test_restore_sends_the_plan_without_call_keys_and_with_the_never_started_mark() -> None:
    pve = Captures()
    run, app, lines = _run(pve)
    vmid = restore(run, app, GOLDEN, slots=2, attempts=3)
    assert vmid == 100 and run.vmid == 100 and run.step == "restore"
    want = plan_restore(run.spec, 100, GOLDEN)
    overrides = {k: v for k, v in want.items() if k not in ("vmid", "ostemplate", "restore")}
    overrides["description"] = want["description"] + NEVER_STARTED + "\n"
    assert pve.sent == [{"vmid": 100, "archive": run.spec.archive, **overrides}]
    [entry] = run.journal.entries
    assert entry.step == "restore" and entry.status == "done"
    assert entry.action == {"vmid": 100, "archive": run.spec.archive, "overrides": overrides}
    assert entry.undo == run.destroy_undo(100)
    upid = next(iter(pve.tasks))
    assert entry.result == {"upid": upid, "exitstatus": "OK"}
    assert f"restoring CT 100 from {run.spec.archive} in one call (" in lines[0]
    assert lines[0].endswith(f"({', '.join(sorted(overrides))})")


def test_restore_result_records_the_send_time_before_waiting() -> None:
    seen: dict[str, Any] = {}

    class Peek(FakePve):
        journal: Journal | None = None

        def wait_task(self, upid: str, timeout_s: float, on_progress: Any = None) -> Any:
            assert self.journal is not None
            seen.update(self.journal.entries[-1].result)
            return super().wait_task(upid, timeout_s, on_progress)

    pve = Peek()
    run, app, _ = _run(pve)
    pve.journal = run.journal
    before = time.time()
    restore(run, app, GOLDEN, slots=1, attempts=1)
    assert seen["upid"] == next(iter(pve.tasks))
    assert before - TASK_CLOCK_SKEW_S - 1 <= seen["since"] <= time.time() - TASK_CLOCK_SKEW_S


class TakenTimes(FakePve):
    """The next ``n`` VMIDs handed out are taken by another process before the POST."""

    taken: int = 0

    def next_vmid(self, hint: int | None = None) -> int:
        vmid = super().next_vmid(hint)
        if self.taken > 0:
            self.taken -= 1
            self.cts[vmid] = {"hostname": "intruder"}
        return vmid


class NoOffset(random.Random):
    """Re-rolls without the random offset: each attempt asks for ``nextid`` itself."""

    def randrange(self, *args: Any, **kwargs: Any) -> int:
        return 0


@pytest.mark.parametrize(("taken", "attempts", "ok"), [(1, 2, True), (2, 2, False), (2, 3, True)])
def test_rerolls_are_bounded_by_attempts(taken: int, attempts: int, ok: bool) -> None:
    pve = TakenTimes()
    pve.taken = taken
    run, app, lines = _run(pve)
    if ok:
        vmid = restore(run, app, GOLDEN, slots=1, attempts=attempts, rng=NoOffset())
        assert vmid == 100 + taken and pve.cts[vmid]["hostname"] == run.spec.hostname
        assert sum("re-rolling" in line for line in lines) == taken
    else:
        with pytest.raises(AlreadyExistsError):
            restore(run, app, GOLDEN, slots=1, attempts=attempts, rng=NoOffset())
    assert [n for n, _ in pve.calls].count("next_vmid") == min(taken + 1, attempts)
    assert [e.status for e in run.journal.entries] == ["failed"] * min(taken, attempts) + (
        ["done"] if ok else []
    )
    assert all(e.undo is None for e in run.journal.entries if e.status == "failed")


def test_reroll_line_names_the_taken_vmid_and_pves_text() -> None:
    pve = TakenTimes()
    pve.taken = 1
    run, app, lines = _run(pve)
    restore(run, app, GOLDEN, slots=1, attempts=2, rng=NoOffset())
    assert "VMID 100 was taken meanwhile (CT 100 already exists on node 'pve'); re-rolling" in lines


def test_a_pinned_vmid_is_never_rerolled_nor_allocated() -> None:
    pve = FakePve()
    pve.cts[150] = {"hostname": "someone"}
    run, app, _ = _run(pve, vmid=150)
    with pytest.raises(AlreadyExistsError):
        restore(run, app, GOLDEN, slots=1, attempts=5)
    assert [n for n, _ in pve.calls].count("restore_lxc") == 1
    assert "next_vmid" not in [n for n, _ in pve.calls]
    pve2 = FakePve()
    run2, app2, _ = _run(pve2, vmid=151)
    assert restore(run2, app2, GOLDEN, slots=1, attempts=1) == 151


def test_the_vmid_is_in_flight_during_the_post_only() -> None:
    seen: list[bool] = []

    class Watch(FakePve):
        def restore_lxc(self, vmid: int, archive: str, overrides: Any) -> str:
            seen.append(locks.is_inflight(self.node, vmid))
            return super().restore_lxc(vmid, archive, overrides)

    run, app, _ = _run(Watch())
    vmid = restore(run, app, GOLDEN, slots=1, attempts=1)
    assert seen == [True] and not locks.is_inflight("pve", vmid)


@pytest.mark.parametrize(
    ("error", "keep_undo"),
    [
        (PermissionDeniedError("denied"), False),  # refused before a task existed
        (ConnectionLostError("reset"), True),  # effect unknown
        (RuntimeError("bug"), True),  # not ours to judge: keep the undo
    ],
)
def test_a_failed_dispatch_keeps_its_undo_only_when_the_effect_is_unknown(
    error: Exception, keep_undo: bool
) -> None:
    class Fails(FakePve):
        def restore_lxc(self, vmid: int, archive: str, overrides: Any) -> str:
            self.calls.append(("restore_lxc", vmid))
            raise error

        def find_task(self, type: str, vmid: int | None, since: float) -> str | None:
            return None

        def get_config(self, vmid: int, *, current: bool = False) -> dict[str, Any]:
            raise ReadFailedError("PVE 500")  # a failed effect read counts as seen: no re-send

    pve = Fails()
    run, app, _ = _run(pve)
    app.lock_window_s = 0.0
    with pytest.raises(type(error)):
        restore(run, app, GOLDEN, slots=1, attempts=3)
    [entry] = run.journal.entries
    assert entry.status == ("pending" if keep_undo else "failed")
    assert entry.error == str(error)
    assert [n for n, _ in pve.calls].count("restore_lxc") == 1
    assert (entry.undo == run.destroy_undo(100)) is keep_undo
    assert (entry.undo is None) is (not keep_undo)


# --- adopt ----------------------------------------------------------------------------


def _leftover(pve: FakePve, **edit: Any) -> int:
    state = engine(pve).create(spec())
    pve.running.discard(state.vmid)
    pve.cts[state.vmid].update(edit)
    return state.vmid


def test_adopting_journals_the_ct_with_its_destroy_undo() -> None:
    pve = FakePve()
    vmid = _leftover(pve)
    run, app, lines = _run(pve)
    assert adopt(run, app) == vmid
    [entry] = run.journal.entries
    assert (entry.step, entry.action, entry.status) == ("adopt", {"vmid": vmid}, "done")
    assert entry.undo == run.destroy_undo(vmid)
    assert lines == [f"adopting CT {vmid}: a previous run left it restored and verified"]


def test_a_leftover_whose_mac_is_the_archives_is_not_adopted() -> None:
    pve = FakePve()
    net0 = f"name=eth0,bridge=vmbr0,hwaddr={GOLDEN_MAC},ip=dhcp,type=veth"
    vmid = _leftover(pve, net0=net0, description=f"felhom-owner={OWNER}\n{NEVER_STARTED}\n")
    run, app, lines = _run(pve)
    run.facts = check_archive_config(GOLDEN)
    assert adopt(run, app) is None
    assert vmid not in pve.cts
    [entry] = run.journal.entries
    assert entry.step == "clean-leftover" and entry.status == "done"
    assert entry.action["vmid"] == vmid and entry.action["problems"]
    assert any("golden MAC" in p for p in entry.action["problems"])
    assert lines[0] == f"destroying CT {vmid}: a previous run's never-started leftover that differs"


def test_a_second_verified_leftover_is_refused_when_started_and_cleaned_when_not() -> None:
    pve = FakePve()
    first = _leftover(pve)
    second = _leftover(pve)  # same marker: the engine adopts the first again
    assert second == first
    extra = max(pve.cts) + 1
    pve.cts[extra] = {**pve.cts[first], "description": pve.cts[first]["description"]}
    run, app, _ = _run(pve)
    with pytest.raises(VerificationError) as info:
        adopt(run, app)
    assert "another CT was adopted for this guest" in info.value.message
    assert info.value.context == {"guest": run.spec.name, "vmid": extra, "step": "adopt"}
    assert first in pve.cts and extra in pve.cts


def test_refusal_names_the_status_problems_and_both_ways_out() -> None:
    pve = FakePve()
    vmid = _leftover(pve, memory="512")
    pve.running.add(vmid)
    run, app, _ = _run(pve)
    with pytest.raises(VerificationError) as info:
        adopt(run, app)
    msg = info.value.message
    assert msg.startswith(f"CT {vmid} carries this resource's marker ({OWNER}) but is not in ")
    assert "(memory 512 != 2048); it is running and has been started" in msg
    assert f"(pin vmid: {vmid})" in msg and f"`pct destroy {vmid} --purge`" in msg
    assert vmid in pve.cts


def test_a_stopped_leftover_without_the_mark_is_never_destroyed() -> None:
    pve = FakePve()
    vmid = _leftover(pve, memory="512")
    run, app, _ = _run(pve)
    with pytest.raises(VerificationError, match="it is stopped and has been started"):
        adopt(run, app)
    assert vmid in pve.cts


def test_a_pinned_spec_adopts_only_its_own_vmid() -> None:
    pve = FakePve()
    vmid = _leftover(pve, description=f"felhom-owner={OWNER}\n{NEVER_STARTED}\n")
    run, app, _ = _run(pve, vmid=vmid + 1)
    assert adopt(run, app) is None
    assert vmid not in pve.cts  # never started: cleaned, not adopted under another VMID


def test_a_ct_of_someone_else_is_not_a_candidate_even_when_tagged() -> None:
    pve = FakePve()
    vmid = _leftover(pve, description="felhom-owner=other/x/y\n")
    run, app, _ = _run(pve)
    assert adopt(run, app) is None
    assert vmid in pve.cts and run.journal.entries == []


def test_the_post_holds_a_restore_slot_and_the_allocation_lock_of_its_node() -> None:
    seen: dict[str, Any] = {}

    class Watch(FakePve):
        run: Run | None = None

        def next_vmid(self, hint: int | None = None) -> int:
            assert self.run is not None
            seen["step"] = self.run.step
            return super().next_vmid(hint)

        def restore_lxc(self, vmid: int, archive: str, overrides: Any) -> str:
            slot = locks.restore_slots(self.node, 1)
            if seen.setdefault("slot_free", slot.acquire(blocking=False)):
                slot.release()
            alloc = locks.allocation_lock(self.node)
            if seen.setdefault("alloc_free", alloc.acquire(blocking=False)):
                alloc.release()
            return super().restore_lxc(vmid, archive, overrides)

    pve = Watch()
    run, app, lines = _run(pve)
    pve.run = run
    restore(run, app, GOLDEN, slots=1, attempts=1)
    assert seen == {"step": "allocate-vmid", "slot_free": False, "alloc_free": False}
    assert lines[-1] == f"restore: waiting for task {next(iter(pve.tasks))}"
    assert locks.restore_slots("pve", 1).acquire(blocking=False)  # released afterwards
    locks.restore_slots("pve", 1).release()


def test_a_task_result_without_exitstatus_is_recorded_as_ok() -> None:
    class Bare(FakePve):
        def wait_task(self, upid: str, timeout_s: float, on_progress: Any = None) -> Any:
            return object()

    pve = Bare()
    run, app, _ = _run(pve)
    restore(run, app, GOLDEN, slots=1, attempts=1)
    assert run.journal.entries[0].result == {"upid": next(iter(pve.tasks)), "exitstatus": "OK"}


def test_restore_of_a_spec_without_description_override_still_marks_never_started() -> None:
    pve = Captures()
    run, app, _ = _run(pve)
    restore(run, app, GOLDEN, slots=1, attempts=1)
    assert pve.sent[0]["description"].endswith(f"\n{NEVER_STARTED}\n")
    assert pve.sent[0]["description"].startswith(f"felhom-owner={OWNER}\n")
