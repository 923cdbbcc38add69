"""The typed undo kinds: JSON round trip by name, each kind's ``apply``, the journal on errors."""

from __future__ import annotations

import pytest

from felhom_provider.errors import FelhomError, PveError
from felhom_provider.reconcile.apply import Applier
from felhom_provider.reconcile.compensate import attach
from felhom_provider.reconcile.journal import Journal
from felhom_provider.reconcile.roll_plan import holder_owner
from felhom_provider.reconcile.undo import (
    UNDO_KINDS,
    DeleteVolume,
    DestroyCT,
    DestroyHolder,
    MoveVolume,
    SetProtection,
    StartCT,
    StopCT,
    Undo,
    undo_from_dict,
)

from .fakes import FakeClock, FakePve

OWNER = "felhom/dev/acme"

EVERY_KIND: list[tuple[Undo, dict[str, object]]] = [
    (DestroyCT(vmid=5, node="pve", owner=OWNER), {"vmid": 5, "node": "pve", "owner": OWNER}),
    (StopCT(vmid=5), {"vmid": 5}),
    (StartCT(vmid=5), {"vmid": 5}),
    (DeleteVolume(storage="local", volid="local:b/x"),
     {"storage": "local", "volid": "local:b/x", "protected": False}),
    (DeleteVolume(storage="local", volid="local:b/y", protected=True),
     {"storage": "local", "volid": "local:b/y", "protected": True}),
    (SetProtection(vmid=5, on=True), {"vmid": 5, "on": True}),
    (MoveVolume(src=7, dst=5, volume="mp0"), {"from": 7, "to": 5, "volume": "mp0"}),
    (DestroyHolder(vmid=7), {"vmid": 7}),
]  # fmt: skip


def applier(pve: FakePve) -> Applier:
    clock = FakeClock()
    return Applier(pve, lambda _l: None, clock=clock, sleep=clock.sleep, task_timeout_s=60)


@pytest.mark.parametrize(("undo", "fields"), EVERY_KIND, ids=lambda v: getattr(v, "op", ""))
def test_every_kind_round_trips_by_name_in_the_flat_json_form(
    undo: Undo, fields: dict[str, object]
) -> None:
    assert undo.to_dict() == {"op": undo.op, **fields}
    assert undo_from_dict(undo.to_dict()) == undo
    assert UNDO_KINDS[undo.op] is type(undo)


def test_every_kind_is_in_the_registry() -> None:
    assert sorted(UNDO_KINDS) == sorted({u.op for u, _ in EVERY_KIND})


def test_unknown_op_or_field_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown undo op 'explode'"):
        undo_from_dict({"op": "explode"})
    with pytest.raises(ValueError, match=r"unknown fields \['colour'\]"):
        undo_from_dict({"op": "stop", "vmid": 5, "colour": "red"})


def test_describe_names_the_ct_or_volume() -> None:
    assert DestroyCT(vmid=5, node="pve").describe() == "CT 5 on node pve (destroy not done)"
    assert StopCT(vmid=5).describe() == "CT 5 on node ? (stop not done)"
    assert DeleteVolume("s", "s:v").describe() == "volume s:v (delete_volume not done)"
    assert (
        MoveVolume(src=7, dst=5, volume="mp0").describe() == "move-volume(from=7, to=5, volume=mp0)"
    )


def test_start_undo_starts_a_stopped_ct_only() -> None:
    pve = FakePve()
    pve.cts[5] = {}
    app = applier(pve)
    assert StartCT(5).apply(app, owner=OWNER, ours=False) == "started CT 5"
    assert 5 in pve.running and ("start", 5) in pve.calls
    pve.calls.clear()
    StartCT(5).apply(app, owner=OWNER, ours=False)
    assert ("start", 5) not in pve.calls


def test_protection_undo_puts_the_flag_back() -> None:
    pve = FakePve()
    pve.cts[5] = {"protection": "0"}
    SetProtection(5, on=True).apply(applier(pve), owner=OWNER, ours=False)
    assert pve.cts[5]["protection"] == "1"


def test_move_volume_undo_hands_the_volume_back() -> None:
    class Movable(FakePve):
        def move_volume_to(self, vmid: int, volume: str, target_vmid: int) -> str:
            self.calls.append(("move_volume_to", (vmid, volume, target_vmid)))
            self._cfg(target_vmid)[volume] = self._cfg(vmid).pop(volume)
            return self._task("move_volume", vmid)

    pve = Movable()
    pve.cts[5], pve.cts[7] = {}, {"mp0": "local-lvm:vm-5-disk-1,mp=/srv"}
    what = MoveVolume(src=7, dst=5, volume="mp0").apply(applier(pve), owner=OWNER, ours=False)
    assert what == "moved mp0 back to CT 5"
    assert pve.cts[5] == {"mp0": "local-lvm:vm-5-disk-1,mp=/srv"} and pve.cts[7] == {}


def test_destroy_holder_undo_refuses_a_holder_with_data_and_destroys_an_empty_one() -> None:
    pve = FakePve()
    marker = f"felhom-owner={holder_owner(OWNER)}\n"
    pve.cts[7] = {"description": marker, "protection": "1", "mp0": "local-lvm:d,mp=/srv"}
    app = applier(pve)
    with pytest.raises(PveError, match="still holds"):
        DestroyHolder(7).apply(app, owner=OWNER, ours=False)
    assert 7 in pve.cts
    del pve.cts[7]["mp0"]
    assert DestroyHolder(7).apply(app, owner=OWNER, ours=False) == "destroyed holder CT 7"
    assert 7 not in pve.cts
    assert DestroyHolder(7).apply(app, owner=OWNER, ours=False) == "holder CT 7 was gone"


def test_attach_types_the_journal_on_our_errors_and_notes_it_on_others() -> None:
    journal = Journal("create guest acme")
    journal.record("restore", {"vmid": 5}, undo=DestroyCT(vmid=5))
    ours = FelhomError("boom")
    assert ours.journal is None
    attach(ours, journal)
    assert ours.journal is journal and ours.journal.steps() == ["restore"]
    other = KeyError("x")
    attach(other, journal)
    assert other.__notes__ == ["journal of create guest acme:\n 1. restore [done]"]
