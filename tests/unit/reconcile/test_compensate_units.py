"""``reconcile.compensate`` one undo at a time, and the annotations a rollback leaves."""

from __future__ import annotations

from typing import Any

import pytest

from felhom_provider.errors import FelhomError, NotFoundError, RollbackError
from felhom_provider.reconcile.apply import Applier
from felhom_provider.reconcile.compensate import compensate, undo_one
from felhom_provider.reconcile.journal import Journal, JournalEntry, JournalStatus
from felhom_provider.reconcile.undo import DestroyCT, undo_from_dict

from .fakes import FakeClock, FakePve

OWNER = "felhom/dev/acme"


def applier(pve: FakePve) -> Applier:
    clock = FakeClock()
    return Applier(pve, lambda _l: None, clock=clock, sleep=clock.sleep, task_timeout_s=60)


def entry(undo: dict[str, Any], result: Any = None) -> JournalEntry:
    return JournalEntry(
        step="s", action={}, undo=undo_from_dict(undo), result=result, status=JournalStatus.DONE
    )


def test_stop_undo_stops_a_running_ct_and_accepts_a_stopped_or_gone_one() -> None:
    pve = FakePve()
    pve.cts[5] = {"description": f"felhom-owner={OWNER}\n"}
    pve.running.add(5)
    app = applier(pve)
    assert undo_one(app, entry({"op": "stop", "vmid": 5}), OWNER) == "stopped CT 5"
    assert 5 not in pve.running and ("stop", 5) in pve.calls
    pve.calls.clear()
    assert undo_one(app, entry({"op": "stop", "vmid": 5}), OWNER) == "stopped CT 5"
    assert ("stop", 5) not in pve.calls  # not running: nothing sent
    assert undo_one(app, entry({"op": "stop", "vmid": 6}), OWNER) == "CT 6 already gone"


def test_destroy_undo_trusts_an_unmarked_ct_only_with_our_task_id() -> None:
    pve = FakePve()
    pve.cts[5] = {"description": "unmarked\n"}
    app = applier(pve)
    with pytest.raises(FelhomError):
        undo_one(app, entry({"op": "destroy", "vmid": 5, "owner": OWNER}), OWNER)
    with pytest.raises(FelhomError):
        undo_one(app, entry({"op": "destroy", "vmid": 5}, result={"upid": ""}), OWNER)
    assert 5 in pve.cts
    ours = entry({"op": "destroy", "vmid": 5}, result={"upid": "UPID:pve:1"})
    assert undo_one(app, ours, OWNER) == "destroyed CT 5"
    assert undo_one(app, ours, OWNER) == "CT 5 was already gone"


def test_delete_volume_undo_waits_for_its_task_and_accepts_a_missing_volume() -> None:
    class Volumes(FakePve):
        gone = False

        def delete_volume(self, storage: str, volid: str) -> str | None:
            self.calls.append(("delete_volume", (storage, volid)))
            if self.gone:
                raise NotFoundError("no such volume")
            return self._task("imgdel", 0)

    pve = Volumes()
    app = applier(pve)
    undo = {"op": "delete_volume", "storage": "local", "volid": "local:backup/x.tar.zst"}
    assert undo_one(app, entry(undo), OWNER) == "deleted volume local:backup/x.tar.zst"
    assert [n for n, _ in pve.calls] == ["delete_volume", "wait_task"]
    pve.gone = True
    assert "already gone" in undo_one(app, entry(undo), OWNER)
    with pytest.raises(ValueError, match="unknown undo op 'explode'"):
        undo_one(app, entry({"op": "explode"}), OWNER)


def test_compensate_annotates_the_error_and_lists_leftovers() -> None:
    pve = FakePve()
    pve.cts[5] = {"description": f"felhom-owner={OWNER}\n"}
    journal = Journal(subject="acme")
    journal.record("restore", {}, result={"upid": "UPID:x"}, undo=DestroyCT(vmid=5))
    lines: list[str] = []
    exc = FelhomError("start failed")
    compensate(journal, applier(pve), owner=OWNER, name="acme", step="start", exc=exc,
               say=lines.append)  # fmt: skip
    assert exc.context == {"guest": "acme", "step": "start", "rolled_back": "destroyed CT 5"}
    assert exc.journal is journal and journal.entries[0].status is JournalStatus.UNDONE
    assert pve.cts == {} and lines[0].startswith("failed at start: start failed")
    journal = Journal(subject="acme")
    journal.record("restore", {}, undo=DestroyCT(vmid=9, node="pve"))
    pve.cts[9] = {"description": "felhom-owner=someone/else/x\n"}
    exc = FelhomError("start failed")
    with pytest.raises(RollbackError) as err:
        compensate(journal, applier(pve), owner=OWNER, name="acme", step="start", exc=exc,
                   say=lines.append)  # fmt: skip
    assert err.value.leftovers[0].startswith("CT 9 on node pve (destroy not done): CT 9 carries")
    assert err.value.cause is exc and err.value.context == {"guest": "acme", "step": "start"}
    assert "rolled_back" not in exc.context and 9 in pve.cts
    assert err.value.journal is journal and exc.journal is journal
