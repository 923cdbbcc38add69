"""``reconcile.journal`` exactly: the compact JSON text, an entry without a status, which
leftovers carry an error, and the rendered summary (mutation-testing gaps)."""

from __future__ import annotations

from felhom_provider.reconcile.journal import Journal, JournalEntry, JournalStatus
from felhom_provider.reconcile.undo import DestroyCT


def test_to_json_is_compact_with_sorted_keys() -> None:
    j = Journal("create guest w")
    j.record("read-back", {"vmid": 7, "a": 1}, result={"problems": []})
    assert j.to_json() == (
        '{"entries":[{"action":{"a":1,"vmid":7},"error":null,"result":{"problems":[]},'
        '"status":"done","step":"read-back","undo":null}],"subject":"create guest w"}'
    )


def test_an_entry_without_status_is_pending() -> None:
    entry = JournalEntry.from_dict({"step": "restore", "action": {"vmid": 7}})
    assert entry.status is JournalStatus.PENDING and entry.outstanding is False


def test_only_a_failed_undo_adds_its_error_to_the_leftover() -> None:
    j = Journal("x")
    lost = j.begin("restore", {"vmid": 5}, undo=DestroyCT(vmid=5, node="pve"))
    j.failed(lost, TimeoutError("answer lost"), keep_undo=True)  # pending, with an error
    broken = j.begin("restore", {"vmid": 6}, undo=DestroyCT(vmid=6, node="pve"))
    broken.status, broken.error = JournalStatus.UNDO_FAILED, "storage gone"
    assert j.leftovers() == [
        "CT 5 on node pve (destroy not done)",
        "CT 6 on node pve (destroy not done): storage gone",
    ]


def test_render_numbers_each_step_with_its_status_and_error() -> None:
    j = Journal("x")
    j.record("verify-archive", {})
    start = j.begin("start", {"vmid": 5})
    j.failed(start, RuntimeError("start failed"))
    assert j.render() == " 1. verify-archive [done]\n 2. start [failed] (start failed)"
