"""``reconcile.compensate.compensate``: every undo is tried after one fails, the rollback
error's message and leftovers, and what a successful rollback leaves on the error
(mutation-testing gaps)."""

from __future__ import annotations

import pytest

from felhom_provider.errors import FelhomError, RollbackError
from felhom_provider.reconcile.apply import Applier
from felhom_provider.reconcile.compensate import compensate
from felhom_provider.reconcile.journal import Journal, JournalStatus
from felhom_provider.reconcile.undo import DestroyCT

from .fakes import FakeClock, FakePve

OWNER = "felhom/dev/acme"
OTHER = "felhom/dev/else"


def applier(pve: FakePve) -> Applier:
    clock = FakeClock()
    return Applier(pve, lambda _l: None, clock=clock, sleep=clock.sleep, task_timeout_s=60)


def world(cts: dict[int, str]) -> tuple[FakePve, Journal]:
    """CTs marked with the given owners, one destroy undo each, recorded in VMID order."""
    pve = FakePve()
    journal = Journal(subject="acme")
    for vmid, owner in cts.items():
        pve.cts[vmid] = {"description": f"felhom-owner={owner}\n"}
        journal.record(f"restore {vmid}", {}, undo=DestroyCT(vmid=vmid, node="pve"))
    return pve, journal


def test_every_undo_is_tried_after_one_fails_and_the_error_names_every_leftover() -> None:
    pve, journal = world({5: OWNER, 8: OTHER, 9: OTHER})  # undone newest first: 9, 8, 5
    exc = FelhomError("boom")
    with pytest.raises(RollbackError) as err:
        compensate(journal, applier(pve), owner=OWNER, name="acme", step="start", exc=exc,
                   say=lambda _l: None)  # fmt: skip
    assert list(pve.cts) == [8, 9]  # CT 5 destroyed although 9 and 8 failed before it
    leftovers = err.value.leftovers
    assert [line.split(":")[0] for line in leftovers] == [
        "CT 8 on node pve (destroy not done)",
        "CT 9 on node pve (destroy not done)",
    ]
    assert err.value.message == f"acme: start failed ({exc}) and rollback left: " + "; ".join(
        leftovers
    )
    assert [e.status for e in journal.entries] == [
        JournalStatus.UNDONE,
        JournalStatus.UNDO_FAILED,
        JournalStatus.UNDO_FAILED,
    ]


def test_a_full_rollback_lists_every_undo_on_the_error() -> None:
    pve, journal = world({5: OWNER, 6: OWNER})
    exc = FelhomError("boom")
    compensate(journal, applier(pve), owner=OWNER, name="acme", step="start", exc=exc,
               say=lambda _l: None)  # fmt: skip
    assert exc.context["rolled_back"] == "destroyed CT 6; destroyed CT 5"
    assert pve.cts == {}


def test_a_foreign_error_is_rolled_back_and_annotated_with_a_note() -> None:
    pve, journal = world({5: OWNER})
    exc = ValueError("bad value")
    compensate(journal, applier(pve), owner=OWNER, name="acme", step="start", exc=exc,
               say=lambda _l: None)  # fmt: skip
    assert pve.cts == {} and not hasattr(exc, "context")
    assert exc.__notes__[0].startswith("journal of acme:")
