"""``reconcile.roll_ops`` call by call: the exact PVE calls and parameters of each roll step,
its journal entry and undo, the locks held while a restore runs, which task a lost answer is
followed by, and the holder scan's choices (mutation-testing gaps)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import pytest

from felhom_provider.errors import (
    AlreadyExistsError,
    ConnectionLostError,
    PveError,
    TaskFailedError,
)
from felhom_provider.reconcile import locks, vmids
from felhom_provider.reconcile.apply import Applier
from felhom_provider.reconcile.journal import Journal, JournalEntry, JournalStatus
from felhom_provider.reconcile.ports import RollApi
from felhom_provider.reconcile.roll_ops import RollOps
from felhom_provider.reconcile.roll_plan import (
    HOLDER_TAG,
    HolderRecord,
    backup_notes,
)
from felhom_provider.reconcile.undo import (
    DeleteVolume,
    DestroyHolder,
    MoveVolume,
    SetProtection,
    StartCT,
    StopCT,
)

from .fakes import FakeClock
from .roll_fake import GOLDEN_NEW, GOLDEN_OLD, Archive, FakeNode

OWNER = "felhom/test/g200"
GUEST = 200
#: The VMID ``nextid`` answers next on the fake node (the first free one from 200 on).
HOLDER = 201
NODE = "pve"
#: The methods that start a PVE task.
TASKS = {
    "restore_lxc",
    "restore_over",
    "move_volume_to",
    "vzdump",
    "start",
    "stop",
    "shutdown",
    "destroy",
}


class Recorder:
    """The fake node with every call recorded with its arguments.

    ``lose`` maps a method to the (task type, VMID) PVE lists its task under: the call takes
    effect, its answer is lost (``ConnectionLostError``) and ``find_task`` finds the task
    only under exactly that type and VMID. ``before`` runs a hook before a call reaches the
    node (it may raise, to make the call fail).
    """

    def __init__(self, pve: FakeNode, lose: dict[str, tuple[str, int]] | None = None) -> None:
        self.pve = pve
        self.lose = dict(lose or {})
        self.log: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self.answers: dict[str, Any] = {}
        self.listed: dict[tuple[str, int | None], Any] = {}
        self.before: dict[str, Callable[[], None]] = {}

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.pve, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            self.log.append((name, args, kwargs))
            if name in self.before:
                self.before[name]()
            answer = target(*args, **kwargs)
            self.answers[name] = answer
            if name in self.lose:
                self.listed[self.lose.pop(name)] = answer
                raise ConnectionLostError(f"answer to {name} lost")
            return answer

        return call

    def find_task(self, type: str, vmid: int | None, since: float) -> Any:
        self.log.append(("find_task", (type, vmid), {}))
        return self.listed.get((type, vmid))

    def calls(self, name: str) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
        return [(args, kwargs) for n, args, kwargs in self.log if n == name]

    def sent(self) -> list[str]:
        """The task-starting calls, in order."""
        return [n for n, _, _ in self.log if n in TASKS]


@dataclass
class Rig:
    pve: FakeNode
    spy: Recorder
    ops: RollOps
    journal: Journal
    log: list[str]

    def waited(self, what: str) -> bool:
        """True when the step log shows the wait for the task of ``what``."""
        return any(line.startswith(f"{what}: waiting for task UPID:") for line in self.log)


def rig(
    pve: FakeNode | None = None,
    *,
    lose: dict[str, tuple[str, int]] | None = None,
    **kw: Any,
) -> Rig:
    pve = pve or node()
    spy = Recorder(pve, lose)
    clock = FakeClock()
    log: list[str] = []
    client = cast(RollApi, spy)
    applier = Applier(client, log.append, clock=clock, sleep=clock.sleep, task_timeout_s=600)
    journal = Journal("g200")
    ops = RollOps(client, applier, journal, log.append, node=NODE, **kw)
    return Rig(pve, spy, ops, journal, log)


def node(*, running: bool = False) -> FakeNode:
    """A node with guest 200 (root filesystem and one data volume ``mp0``)."""
    pve = FakeNode()
    pve.restore_lxc(GUEST, GOLDEN_OLD, {"rootfs": "local-lvm:8"})
    volid = pve._alloc(GUEST, "local-lvm")
    pve.cts[GUEST]["mp0"] = f"{volid},mp=/mnt/data,size=1G"
    if running:
        pve.running.add(GUEST)
    pve.calls.clear()
    pve._counts.clear()
    return pve


def locks_held(vmid: int) -> dict[str, bool]:
    """What this process holds on the node now: its one restore slot (``restore_slots=1``),
    the VMID allocation lock, the in-flight mark of ``vmid``."""
    slot = locks.restore_slots(NODE, 1)
    free = slot.acquire(blocking=False)
    if free:
        slot.release()
    return {
        "slot free": free,
        "allocation locked": locks.allocation_lock(NODE).locked(),
        "in flight": locks.is_inflight(NODE, vmid),
    }


def entry(step: str, action: dict[str, Any], undo: Any = None, result: Any = None) -> JournalEntry:
    return JournalEntry(step, action, undo, result, JournalStatus.DONE)


def record(guest: int = GUEST) -> HolderRecord:
    return HolderRecord(OWNER, guest, GOLDEN_OLD, GOLDEN_NEW, running=True)


def add_ct(pve: FakeNode, vmid: int, **config: str) -> None:
    pve.cts[vmid] = dict(config)


# --- reads ------------------------------------------------------------------------------


@pytest.mark.parametrize("running", [True, False])
def test_running_reads_the_status(running: bool) -> None:
    r = rig(node(running=running))
    assert r.ops.running(GUEST) is running
    assert r.spy.calls("status") == [((GUEST,), {})]


def test_archive_config_is_the_parsed_pct_conf() -> None:
    r = rig()
    config = r.ops.archive_config(GOLDEN_NEW)
    assert config["hostname"] == "felhom-golden"
    assert config["rootfs"] == "local-lvm:vm-9200-disk-0,size=8G"
    assert r.spy.calls("extractconfig") == [((GOLDEN_NEW,), {})]


# --- the holder scan --------------------------------------------------------------------


def test_find_holder_takes_the_tagged_holder_of_this_guest_only() -> None:
    pve = node()
    add_ct(pve, 300, tags=HOLDER_TAG, description=record(guest=999).description())
    add_ct(pve, 301, tags=f"web;{HOLDER_TAG}", description=record().description())
    assert rig(pve).ops.find_holder(OWNER, GUEST) == (301, record())


def test_find_holder_skips_another_owners_holder() -> None:
    pve = node()
    add_ct(pve, 300, tags=HOLDER_TAG, description=record().description())
    assert rig(pve).ops.find_holder("felhom/test/other", GUEST) is None


def test_find_holder_reads_an_untagged_ct_under_lock_create_nobody_here_restores() -> None:
    """A killed run's holder restore may still run inside PVE: its tag is not set yet."""
    pve = node()
    add_ct(pve, 300, lock="create", description=record().description())
    r = rig(pve)
    assert r.ops.find_holder(OWNER, GUEST) == (300, record())
    assert ((300,), {}) in r.spy.calls("get_config")


@pytest.mark.parametrize(
    ("lock", "inflight"),
    [
        pytest.param(None, False, id="no-lock"),
        pytest.param("backup", False, id="other-lock"),
        pytest.param("create", True, id="restored-by-this-process"),
    ],
)
def test_find_holder_leaves_other_untagged_cts_unread(lock: str | None, inflight: bool) -> None:
    pve = node()
    add_ct(pve, 300, description=record().description())
    if lock:
        pve.cts[300]["lock"] = lock
    r = rig(pve)
    if inflight:
        with locks.inflight(NODE, 300):
            found = r.ops.find_holder(OWNER, GUEST)
    else:
        found = r.ops.find_holder(OWNER, GUEST)
    assert found is None
    assert r.spy.calls("get_config") == []


def test_find_backups_asks_for_this_guests_backups_and_keeps_the_owners_sorted() -> None:
    pve = node()
    notes = backup_notes(OWNER, GOLDEN_OLD)
    for volid, note in [
        ("local:backup/vzdump-lxc-200-b.tar.zst", notes),
        ("local:backup/vzdump-lxc-200-a.tar.zst", notes),
        ("local:backup/vzdump-lxc-200-c.tar.zst", backup_notes("felhom/test/x", GOLDEN_OLD)),
        ("local:backup/vzdump-lxc-200-d.tar.zst", None),
    ]:
        pve.archives[volid] = Archive("", {}, note, GUEST)
    r = rig(pve)
    assert r.ops.find_backups("local", OWNER, GUEST) == [
        "local:backup/vzdump-lxc-200-a.tar.zst",
        "local:backup/vzdump-lxc-200-b.tar.zst",
    ]
    assert r.spy.calls("storage_content") == [(("local",), {"content": "backup", "vmid": GUEST})]


# --- the holder -------------------------------------------------------------------------


def test_create_holder_restores_under_the_node_locks_and_journals_its_destroy() -> None:
    r = rig(restore_slots=1)
    seen: dict[str, bool] = {}
    r.spy.before["restore_lxc"] = lambda: seen.update(locks_held(HOLDER))
    overrides = {"rootfs": "local-lvm:1", "protection": 1}
    assert r.ops.create_holder(GOLDEN_NEW, overrides) == HOLDER
    assert seen == {"slot free": False, "allocation locked": True, "in flight": True}
    assert not locks.is_inflight(NODE, HOLDER)
    assert r.spy.calls("restore_lxc") == [((HOLDER, GOLDEN_NEW, overrides), {})]
    upid = r.spy.answers["restore_lxc"]
    assert r.journal.entries == [
        entry(
            "holder",
            {"vmid": HOLDER, "archive": GOLDEN_NEW},
            DestroyHolder(vmid=HOLDER),
            {"upid": upid},
        )
    ]
    assert r.waited(f"restore holder CT {HOLDER}")


@pytest.mark.parametrize("attempts", [None, 2])
def test_create_holder_gives_up_after_vmid_attempts_taken_vmids(
    attempts: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every ``nextid`` answer is taken by someone else by the time the POST arrives (re-rolls
    ask for ``nextid`` itself here; the random offset is ``test_vmids``'s)."""
    monkeypatch.setattr(vmids, "candidate", lambda next_free, attempt, rng=None: next_free)
    kw: dict[str, Any] = {} if attempts is None else {"vmid_attempts": attempts}
    r = rig(**kw)
    r.pve.next_vmid = lambda hint=None: GUEST  # type: ignore[method-assign]
    with pytest.raises(AlreadyExistsError):
        r.ops.create_holder(GOLDEN_NEW, {"rootfs": "local-lvm:1"})
    expected = vmids.ATTEMPTS if attempts is None else attempts
    assert len(r.spy.calls("restore_lxc")) == expected
    assert [(e.step, e.status, e.undo, e.error) for e in r.journal.entries] == [
        ("holder", JournalStatus.FAILED, None, "taken")
    ] * expected


def test_write_record_puts_the_description_and_journals_it() -> None:
    r = rig()
    add_ct(r.pve, HOLDER)
    text = record().description()
    r.ops.write_record(HOLDER, record())
    assert r.spy.calls("put_config") == [((HOLDER,), {"description": text})]
    assert r.journal.entries == [entry("record", {"vmid": HOLDER, "record": text})]


def holder_ct(pve: FakeNode, **extra: str) -> None:
    pve.restore_lxc(
        HOLDER,
        GOLDEN_NEW,
        {"rootfs": "local-lvm:1", "protection": 1, "description": record().description()},
    )
    pve.cts[HOLDER].update(extra)


@pytest.mark.parametrize(
    ("extra", "left"),
    [
        ({"mp0": "local-lvm:vm-200-disk-1,mp=/mnt/data,size=1G"}, ["mp0"]),
        ({"unused0": "local-lvm:vm-200-disk-1"}, ["unused0"]),
    ],
)
def test_destroy_holder_refuses_while_it_holds_data(extra: dict[str, str], left: list[str]) -> None:
    r = rig()
    holder_ct(r.pve, **extra)
    with pytest.raises(PveError) as caught:
        r.ops.destroy_holder(HOLDER, OWNER)
    assert str(left) in caught.value.message
    assert caught.value.context == {"vmid": HOLDER, "step": "cleanup"}
    assert r.spy.sent() == [] and r.spy.calls("put_config") == []
    assert HOLDER in r.pve.cts


def test_destroy_holder_clears_protection_without_an_undo_then_destroys_it() -> None:
    r = rig()
    holder_ct(r.pve)
    r.ops.destroy_holder(HOLDER, OWNER)
    assert HOLDER not in r.pve.cts
    assert r.spy.calls("put_config") == [((HOLDER,), {"protection": 0})]
    assert r.journal.entries == [entry("protection-off", {"vmid": HOLDER})]


# --- volumes and backups ----------------------------------------------------------------


def test_move_hands_the_volume_over_under_the_same_key_with_its_reverse_as_undo() -> None:
    r = rig()
    holder_ct(r.pve)
    r.ops.move(GUEST, "mp0", HOLDER)
    assert r.spy.calls("move_volume_to") == [((GUEST, "mp0", HOLDER, "mp0"), {})]
    assert "mp0" in r.pve.cts[HOLDER] and "mp0" not in r.pve.cts[GUEST]
    assert r.journal.entries == [
        entry(
            "move-volume",
            {"from": GUEST, "to": HOLDER, "volume": "mp0"},
            MoveVolume(src=HOLDER, dst=GUEST, volume="mp0"),
        )
    ]
    assert r.waited(f"move mp0 CT {GUEST} -> CT {HOLDER}")


def test_backup_is_a_stop_mode_zstd_vzdump_whose_archive_is_the_undo() -> None:
    r = rig()
    notes = backup_notes(OWNER, GOLDEN_OLD)
    r.pve.archives["local:backup/vzdump-lxc-202-x.tar.zst"] = Archive("", {}, notes, 202)
    volid = r.ops.backup(GUEST, "local", notes, OWNER)
    assert r.spy.calls("vzdump") == [((GUEST, "local", "stop", "zstd"), {"notes": notes})]
    assert r.spy.calls("storage_content") == [(("local",), {"content": "backup", "vmid": GUEST})]
    assert volid.startswith(f"local:backup/vzdump-lxc-{GUEST}-")
    assert r.journal.entries == [
        entry(
            "backup-old-rootfs",
            {"vmid": GUEST, "storage": "local"},
            DeleteVolume(storage="local", volid=volid),
            {"volid": volid},
        )
    ]
    assert r.waited("vzdump old root filesystem")


def test_backup_that_leaves_no_archive_of_the_owner_is_an_error_of_the_backup_step() -> None:
    r = rig()
    with pytest.raises(PveError) as caught:
        r.ops.backup(GUEST, "local", backup_notes("felhom/test/other", GOLDEN_OLD), OWNER)
    assert caught.value.message == f"vzdump of CT {GUEST} left no archive"
    assert caught.value.context == {"vmid": GUEST, "step": "backup"}
    assert r.journal.entries[0].status is JournalStatus.PENDING


@pytest.mark.parametrize("ok", [True, False])
def test_delete_backup_follows_the_task_when_pve_answers_one(ok: bool) -> None:
    """Some storages delete in a worker: PVE answers a UPID, and the deletion is its task."""
    r = rig()
    volid = "local:backup/vzdump-lxc-200-a.tar.zst"
    upid = f"UPID:pve:1:1:00000001:imgdel:{volid}:{'OK' if ok else 'FAIL'}:"
    r.pve.delete_volume = lambda storage, volid: upid  # type: ignore[method-assign]
    if ok:
        r.ops.delete_backup("local", volid)
    else:
        with pytest.raises(TaskFailedError):
            r.ops.delete_backup("local", volid)
    assert [args for args, _ in r.spy.calls("wait_task")] == [(upid,)]
    assert r.waited(f"delete {volid}")


def test_delete_backup_names_the_storage_and_takes_a_missing_one_as_deleted() -> None:
    r = rig()
    volid = "local:backup/vzdump-lxc-200-a.tar.zst"
    r.pve.archives[volid] = Archive("", {}, None, GUEST)
    r.ops.delete_backup("local", volid)
    r.ops.delete_backup("local", volid)
    assert volid not in r.pve.archives
    assert r.spy.calls("delete_volume") == [(("local", volid), {})] * 2


# --- the guest --------------------------------------------------------------------------


@pytest.mark.parametrize(("on", "step"), [(True, "protection-on"), (False, "protection-off")])
def test_set_protection_journals_the_opposite_as_its_undo(on: bool, step: str) -> None:
    r = rig()
    r.ops.set_protection(GUEST, on=on)
    assert r.spy.calls("put_config") == [((GUEST,), {"protection": int(on)})]
    assert r.journal.entries == [entry(step, {"vmid": GUEST}, SetProtection(vmid=GUEST, on=not on))]


def test_set_protection_without_undo() -> None:
    r = rig()
    r.ops.set_protection(GUEST, on=True, undo=False)
    assert r.journal.entries == [entry("protection-on", {"vmid": GUEST})]


@pytest.mark.parametrize(
    ("over", "vmid", "method", "step"),
    [(True, GUEST, "restore_over", "restore-over"), (False, 202, "restore_lxc", "restore")],
)
def test_restore_sends_over_or_anew_in_a_restore_slot_and_in_flight(
    over: bool, vmid: int, method: str, step: str
) -> None:
    r = rig(restore_slots=1)
    seen: dict[str, bool] = {}
    r.spy.before[method] = lambda: seen.update(locks_held(vmid))
    overrides = {"rootfs": "local-lvm:8"}
    r.ops.restore(vmid, GOLDEN_NEW, overrides, over=over)
    assert r.spy.sent() == [method]
    assert r.spy.calls(method) == [((vmid, GOLDEN_NEW, overrides), {})]
    assert seen == {"slot free": False, "allocation locked": False, "in flight": True}
    assert not locks.is_inflight(NODE, vmid)
    assert r.journal.entries == [entry(step, {"vmid": vmid, "archive": GOLDEN_NEW})]
    assert r.waited(f"restore CT {vmid}")


def test_start_journals_a_stop_as_its_undo() -> None:
    r = rig()
    r.ops.start(GUEST)
    assert GUEST in r.pve.running
    assert r.spy.calls("start") == [((GUEST,), {})]
    assert r.journal.entries == [entry("start", {"vmid": GUEST}, StopCT(vmid=GUEST))]
    assert r.waited(f"start CT {GUEST}")


def test_stop_clean_is_a_bounded_shutdown_only() -> None:
    r = rig(node(running=True))
    r.ops.stop(GUEST, clean=True)
    assert r.spy.sent() == ["shutdown"]
    # A minute for the CT's init to stop its services before PVE's task fails.
    assert r.spy.calls("shutdown") == [((GUEST,), {"timeout": 60})]
    assert GUEST not in r.pve.running
    assert r.journal.entries == [entry("stop", {"vmid": GUEST}, StartCT(vmid=GUEST))]
    assert r.waited(f"shutdown CT {GUEST}")


def test_stop_hard_sends_no_shutdown() -> None:
    r = rig(node(running=True))
    r.ops.stop(GUEST, clean=False)
    assert r.spy.sent() == ["stop"]
    assert r.spy.calls("stop") == [((GUEST,), {})]
    assert r.journal.entries == [entry("stop", {"vmid": GUEST}, StartCT(vmid=GUEST))]
    assert r.waited(f"stop CT {GUEST}")


def failing_shutdown(r: Rig, *, stops_it: bool) -> None:
    def fail() -> None:
        if stops_it:
            r.pve.running.discard(GUEST)
        raise TaskFailedError("shutdown failed", upid="UPID:x", exitstatus="timeout")

    r.spy.before["shutdown"] = fail


def test_stop_falls_back_to_a_hard_stop_when_the_shutdown_fails() -> None:
    r = rig(node(running=True))
    failing_shutdown(r, stops_it=False)
    r.ops.stop(GUEST, clean=True)
    assert r.spy.sent() == ["shutdown", "stop"]
    assert GUEST not in r.pve.running
    assert r.journal.entries == [entry("stop", {"vmid": GUEST}, StartCT(vmid=GUEST))]


def test_stop_takes_a_ct_that_stopped_meanwhile_as_stopped() -> None:
    r = rig(node(running=True))
    failing_shutdown(r, stops_it=True)
    r.ops.stop(GUEST, clean=True)
    assert r.spy.sent() == ["shutdown", "stop"]
    assert r.journal.entries == [entry("stop", {"vmid": GUEST}, StartCT(vmid=GUEST))]


def test_stop_raises_a_hard_stop_that_fails_for_another_reason() -> None:
    r = rig(node(running=True))

    def refuse() -> None:
        raise PveError("CT is locked (backup)")

    r.spy.before["stop"] = refuse
    with pytest.raises(PveError, match="locked"):
        r.ops.stop(GUEST, clean=False)
    assert r.journal.entries[0].status is JournalStatus.PENDING


def test_stop_leaves_a_stopped_ct_alone() -> None:
    r = rig()
    r.ops.stop(GUEST, clean=True)
    assert r.spy.sent() == [] and r.journal.entries == []


# --- lost answers: each step is followed by its own task, never sent twice -------------


def _restore_over(ops: RollOps) -> None:
    ops.restore(GUEST, GOLDEN_NEW, {"rootfs": "local-lvm:8"}, over=True)


def _holder(ops: RollOps) -> None:
    ops.create_holder(GOLDEN_NEW, {"rootfs": "local-lvm:1"})


LOST: list[Any] = [
    pytest.param(lambda ops: ops.start(GUEST), False, "start", "vzstart", id="start"),
    pytest.param(lambda ops: ops.stop(GUEST, clean=False), True, "stop", "vzstop", id="stop"),
    pytest.param(
        lambda ops: ops.stop(GUEST, clean=True), True, "shutdown", "vzshutdown", id="shutdown"
    ),
    pytest.param(_restore_over, False, "restore_over", "vzrestore", id="restore-over"),
    pytest.param(
        lambda ops: ops.backup(GUEST, "local", backup_notes(OWNER, GOLDEN_OLD), OWNER),
        False,
        "vzdump",
        "vzdump",
        id="backup",
    ),
]


@pytest.mark.parametrize(("op", "running", "method", "kind"), LOST)
def test_a_lost_answer_is_followed_by_the_steps_own_task(
    op: Callable[[RollOps], None], running: bool, method: str, kind: str
) -> None:
    r = rig(node(running=running), lose={method: (kind, GUEST)})
    op(r.ops)
    assert r.spy.sent() == [method]
    assert ((kind, GUEST), {}) in r.spy.calls("find_task")
    assert r.journal.entries[-1].status is JournalStatus.DONE


def test_a_lost_holder_restore_is_followed_not_sent_again() -> None:
    r = rig(lose={"restore_lxc": ("vzrestore", HOLDER)})
    _holder(r.ops)
    assert r.spy.sent() == ["restore_lxc"]
    assert r.journal.entries[-1].status is JournalStatus.DONE


def test_a_lost_move_is_followed_by_the_source_cts_task() -> None:
    pve = node()
    pve.restore_lxc(HOLDER, GOLDEN_NEW, {"rootfs": "local-lvm:1"})
    r = rig(pve, lose={"move_volume_to": ("move_volume", GUEST)})
    r.ops.move(GUEST, "mp0", HOLDER)
    assert r.spy.sent() == ["move_volume_to"]
    assert r.journal.entries[-1].status is JournalStatus.DONE
