"""``reconcile.undo`` exactly: the task each undo runs (kind, VMID, what it waits for), the calls
it sends, its answer for each outcome and the holder checks (mutation-testing gaps)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from felhom_provider.errors import NotFoundError, NotRunningError, OwnershipError, PveError
from felhom_provider.reconcile.apply import Applier
from felhom_provider.reconcile.roll_plan import holder_owner
from felhom_provider.reconcile.undo import (
    DeleteVolume,
    DestroyCT,
    DestroyHolder,
    MoveVolume,
    SetProtection,
    StartCT,
    StopCT,
)

from .fakes import FakeClock, FakePve

OWNER = "felhom/dev/acme"
HOLDER = {"description": f"felhom-owner={holder_owner(OWNER)}\n", "protection": "1"}


class Recorder(Applier):
    """The real applier, keeping what each ``run`` and ``wait`` was asked to do."""

    def __init__(self, pve: Any) -> None:
        clock = FakeClock()
        super().__init__(pve, lambda _l: None, clock=clock, sleep=clock.sleep, task_timeout_s=60)
        self.runs: list[tuple[str, int, str]] = []
        self.waits: list[tuple[Any, str]] = []

    def run(self, kind: str, vmid: int, what: str, send: Callable[[], Any]) -> Any:
        self.runs.append((kind, vmid, what))
        return super().run(kind, vmid, what, send)

    def wait(self, upid: Any, what: str) -> Any:
        self.waits.append((upid, what))
        return super().wait(upid, what)


class Volumes(FakePve):
    """FakePve plus the golden/roll clients' volume calls."""

    def delete_volume(self, storage: str, volid: str) -> str | None:
        self.calls.append(("delete_volume", (storage, volid)))
        if volid.endswith("gone"):
            raise NotFoundError(f"volume '{volid}' does not exist")
        return None if volid.endswith("sync") else self._task("imgdel", 0)

    def set_volume_protected(self, storage: str, volid: str, protected: bool) -> None:
        self.calls.append(("set_volume_protected", (storage, volid, protected)))

    def move_volume_to(self, vmid: int, volume: str, target_vmid: int) -> str:
        self.calls.append(("move_volume_to", (vmid, volume, target_vmid)))
        self._cfg(target_vmid)[volume] = self._cfg(vmid).pop(volume)
        return self._task("move_volume", vmid)


def test_stop_undo_runs_a_vzstop_task_on_the_ct() -> None:
    pve = FakePve(cts={5: {}}, running={5})
    app = Recorder(pve)
    assert StopCT(5).apply(app, owner=OWNER, ours=False) == "stopped CT 5"
    assert app.runs == [("vzstop", 5, "stop CT 5")]
    assert app.waits == [(next(iter(pve.tasks)), "stop CT 5")]
    assert 5 not in pve.running


def test_stop_undo_of_a_stopped_or_vanished_ct_sends_nothing() -> None:
    pve = FakePve(cts={5: {}})
    app = Recorder(pve)
    assert StopCT(5).apply(app, owner=OWNER, ours=False) == "stopped CT 5"
    assert StopCT(6).apply(app, owner=OWNER, ours=False) == "CT 6 already gone"
    assert app.runs == [] and pve.mutating() == []


def test_stop_undo_accepts_a_ct_that_stopped_meanwhile() -> None:
    class StoppedMeanwhile(FakePve):
        def stop(self, vmid: int) -> str:
            self.calls.append(("stop", vmid))
            raise NotRunningError(f"CT {vmid} not running")

    pve = StoppedMeanwhile(cts={5: {}}, running={5})
    assert StopCT(5).apply(Recorder(pve), owner=OWNER, ours=False) == "stopped CT 5"
    assert pve.mutating() == ["stop"]


def test_start_undo_runs_a_vzstart_task_on_a_stopped_ct() -> None:
    pve = FakePve(cts={5: {}})
    app = Recorder(pve)
    assert StartCT(5).apply(app, owner=OWNER, ours=False) == "started CT 5"
    assert app.runs == [("vzstart", 5, "start CT 5")]
    assert app.waits == [(next(iter(pve.tasks)), "start CT 5")]


@pytest.mark.parametrize(
    ("volid", "protected", "calls", "answer"),
    [
        ("local:backup/a", False, [("delete_volume", ("local", "local:backup/a"))],
         "deleted volume local:backup/a"),
        ("local:backup/p", True,
         [("set_volume_protected", ("local", "local:backup/p", False)),
          ("delete_volume", ("local", "local:backup/p"))],
         "deleted volume local:backup/p"),
        ("local:backup/gone", False, [("delete_volume", ("local", "local:backup/gone"))],
         "volume local:backup/gone was already gone"),
    ],
)  # fmt: skip
def test_delete_volume_undo_sends_storage_and_volid_and_waits_for_the_task(
    volid: str, protected: bool, calls: list[Any], answer: str
) -> None:
    pve = Volumes()
    app = Recorder(pve)
    assert DeleteVolume("local", volid, protected).apply(app, owner=OWNER, ours=False) == answer
    assert [c for c in pve.calls if c[0] != "wait_task"] == calls
    tasks = list(pve.tasks)
    assert app.waits == [(upid, f"delete {volid}") for upid in tasks]
    assert len(tasks) == (0 if volid.endswith("gone") else 1)


def test_delete_volume_undo_without_a_task_waits_for_nothing() -> None:
    pve = Volumes()
    app = Recorder(pve)
    undo = DeleteVolume("local", "local:backup/sync")
    assert undo.apply(app, owner=OWNER, ours=False) == "deleted volume local:backup/sync"
    assert app.waits == []


@pytest.mark.parametrize(("on", "sent", "answer"), [(True, 1, "on"), (False, 0, "off")])
def test_protection_undo_sends_the_flag_and_says_which(on: bool, sent: int, answer: str) -> None:
    pve = FakePve(cts={5: {}})
    assert SetProtection(5, on=on).apply(Recorder(pve), owner=OWNER, ours=False) == (
        f"protection {answer} for CT 5"
    )
    assert pve.calls == [("put_config", (5, {"protection": sent}))]


def test_move_volume_undo_runs_a_move_task_on_the_source_ct() -> None:
    pve = Volumes(cts={5: {}, 7: {"mp0": "local-lvm:vm-5-disk-1,mp=/srv"}})
    app = Recorder(pve)
    assert MoveVolume(src=7, dst=5, volume="mp0").apply(app, owner=OWNER, ours=False) == (
        "moved mp0 back to CT 5"
    )
    assert app.runs == [("move_volume", 7, "move mp0 CT 7 -> CT 5")]
    assert ("move_volume_to", (7, "mp0", 5)) in pve.calls


@pytest.mark.parametrize("held", ["unused0", "unused3", "mp1"])
def test_destroy_holder_undo_refuses_a_holder_that_still_holds_a_volume(held: str) -> None:
    pve = FakePve(cts={7: {**HOLDER, held: "local-lvm:vm-5-disk-1,mp=/srv"}})
    with pytest.raises(PveError, match=rf"holder CT 7 still holds \['{held}'\]") as err:
        DestroyHolder(7).apply(Recorder(pve), owner=OWNER, ours=False)
    assert err.value.context == {"vmid": 7}
    assert pve.mutating() == []


def test_destroy_holder_undo_unprotects_then_destroys() -> None:
    pve = FakePve(cts={7: dict(HOLDER)})
    assert DestroyHolder(7).apply(Recorder(pve), owner=OWNER, ours=False) == (
        "destroyed holder CT 7"
    )
    assert pve.mutating() == ["put_config", "destroy"]
    assert ("put_config", (7, {"protection": 0})) in pve.calls


@pytest.mark.parametrize("ours", [True, False])
def test_destroy_holder_undo_trusts_an_unmarked_holder_only_when_ours(ours: bool) -> None:
    pve = FakePve(cts={7: {"protection": "1"}})
    if ours:
        DestroyHolder(7).apply(Recorder(pve), owner=OWNER, ours=True)
        assert 7 not in pve.cts
    else:
        with pytest.raises(OwnershipError):
            DestroyHolder(7).apply(Recorder(pve), owner=OWNER, ours=False)
        assert 7 in pve.cts


def test_destroy_holder_undo_of_a_holder_gone_before_its_destroy() -> None:
    class GoneAfterUnprotect(FakePve):
        def put_config(self, vmid: int, *args: Any, **kw: Any) -> None:
            super().put_config(vmid, *args, **kw)
            del self.cts[vmid]

    pve = GoneAfterUnprotect(cts={7: dict(HOLDER)})
    assert DestroyHolder(7).apply(Recorder(pve), owner=OWNER, ours=False) == "holder CT 7 was gone"
    assert "destroy" not in pve.mutating()


def test_destroy_describe_without_a_node() -> None:
    assert DestroyCT(vmid=5).describe() == "CT 5 on node ? (destroy not done)"
