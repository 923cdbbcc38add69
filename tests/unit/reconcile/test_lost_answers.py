"""Lost answers and failed reads: followed up, re-sent only when PVE never handled them.

Each test drives the guest engine against the in-memory PVE with one hostile fault and
checks what is left on the node, so a change that drops an undo, re-sends blindly or treats
a read error as fatal fails here.
"""

from __future__ import annotations

from typing import Any

import pytest

from felhom_provider.errors import (
    ConnectionLostError,
    DispatchLostError,
    ReadFailedError,
    RollbackError,
)
from felhom_provider.reconcile.apply import NEVER_STARTED, Applier, effect_of

from .fakes import FakeClock, FakePve
from .test_engine_fakes import engine, spec


def _lost(vmid: int) -> DispatchLostError:
    return DispatchLostError("reset", task_type="vzrestore", vmid=vmid, sent_at=0.0)


class DroppedBeforeHandled(FakePve):
    """The first ``drops`` restore POSTs never reach PVE: no task, no CT, answer lost."""

    drops: int = 1

    def restore_lxc(self, vmid: int, archive: str, overrides: Any) -> str:
        if self.drops > 0:
            self.drops -= 1
            self.calls.append(("restore_lxc", vmid))
            raise _lost(vmid)
        return super().restore_lxc(vmid, archive, overrides)


class TaskInvisible(FakePve):
    """PVE handled the restore but its task never shows in the task list."""

    def find_task(self, type: str, vmid: int | None, since: float) -> str | None:
        self.calls.append(("find_task", (type, vmid)))
        return None


def test_restore_dropped_before_pve_handled_it_is_sent_again_and_converges() -> None:
    pve = DroppedBeforeHandled()
    state = engine(pve).create(spec())
    assert [c[0] for c in pve.calls].count("restore_lxc") == 2
    assert list(pve.cts) == [state.vmid] and state.status == "running"


def test_resend_is_bounded() -> None:
    pve = DroppedBeforeHandled()
    pve.drops = 10
    with pytest.raises(DispatchLostError):
        engine(pve).create(spec())
    assert [c[0] for c in pve.calls].count("restore_lxc") == 3 and pve.cts == {}


def test_lost_answer_without_task_keeps_its_undo_and_rollback_removes_the_ct() -> None:
    # The restore ran (the CT exists, with our marker) but no task can be found: the effect
    # is there, so it is not re-sent; the create fails and its undo must still remove the CT.
    pve = TaskInvisible(faults={"restore_lxc": [ConnectionLostError("reset")]})
    with pytest.raises(ConnectionLostError) as err:
        engine(pve).create(spec())
    assert pve.cts == {}, "the restore's undo was dropped: CT left behind"
    assert [c[0] for c in pve.calls].count("restore_lxc") == 1
    assert "destroyed CT" in str(err.value.context.get("rolled_back"))


def test_rollback_never_destroys_an_unmarked_ct_when_no_task_of_ours_was_recorded() -> None:
    class ForeignAppears(TaskInvisible):
        def restore_lxc(self, vmid: int, archive: str, overrides: Any) -> str:
            self.calls.append(("restore_lxc", vmid))
            # Someone else's CT takes the VMID; our answer is lost and no task is found.
            self.cts[vmid] = {"hostname": "theirs", "description": "not ours\n"}
            raise _lost(vmid)

    pve = ForeignAppears()
    with pytest.raises(RollbackError) as err:
        engine(pve).create(spec())
    assert len(pve.cts) == 1 and next(iter(pve.cts.values()))["hostname"] == "theirs"
    assert "destroy" not in pve.mutating()
    assert any("CT" in leftover for leftover in err.value.leftovers)


def test_failed_interface_reads_during_the_lease_wait_are_not_yet() -> None:
    class FlakyInterfaces(FakePve):
        failures = 3

        def interfaces(self, vmid: int) -> list[dict[str, Any]] | None:
            if self.failures:
                self.failures -= 1
                raise ReadFailedError("PVE 500 on GET interfaces: worker restarting")
            return super().interfaces(vmid)

    pve = FlakyInterfaces()
    state = engine(pve).create(spec())
    assert state.ipv4 and pve.failures == 0 and "destroy" not in pve.mutating()


def test_start_is_resent_only_when_neither_task_nor_effect_shows() -> None:
    pve = FakePve()
    pve.cts[120] = {"description": NEVER_STARTED + "\n"}
    clock = FakeClock()
    lines: list[str] = []
    applier = Applier(pve, lines.append, clock=clock, sleep=clock.sleep, task_timeout_s=60)
    sent: list[int] = []

    def send() -> str:
        sent.append(1)
        if len(sent) == 1:
            raise DispatchLostError("reset", task_type="vzstart", vmid=120, sent_at=0.0)
        return pve.start(120)

    upid = applier.dispatch("vzstart", 120, send)
    assert len(sent) == 2 and 120 in pve.running and "vzstart" in str(upid)
    assert clock.now >= applier.lock_window_s  # waited the lock window before re-sending
    assert NEVER_STARTED not in pve.cts[120]["description"]
    assert any("sending it again (2/3)" in line for line in lines)


def test_effects_per_kind() -> None:
    pve = FakePve()
    pve.cts[5] = {}
    assert effect_of(pve, "resize", 5) is None and effect_of(pve, "vzdump", 5) is None
    exists, started = effect_of(pve, "vzrestore", 5), effect_of(pve, "vzstart", 5)
    stopped, gone = effect_of(pve, "vzstop", 5), effect_of(pve, "vzdestroy", 5)
    assert exists and started and stopped and gone
    assert exists() and not started() and stopped() and not gone()
    pve.running.add(5)
    assert started() and not stopped()
    del pve.cts[5]
    assert not exists() and gone() and not started()
