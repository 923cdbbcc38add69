"""GuestEngine against an in-memory PVE: call sequence, rollback order, faults, adoption."""

from __future__ import annotations

from typing import Any

import pytest

from felhom_provider.errors import (
    ConnectionLostError,
    HostKeyError,
    OwnershipError,
    PermanentPveError,
    PermissionDeniedError,
    RollbackError,
    TaskFailedError,
    VerificationError,
)
from felhom_provider.guest.hostkeys import line_fingerprint
from felhom_provider.reconcile import GuestEngine, vmids
from felhom_provider.reconcile.apply import NEVER_STARTED
from felhom_provider.reconcile.model import GuestSpec, MountSpec

from .fakes import GOLDEN_MAC, FakeClock, FakePve, FakeShell

OWNER = "felhom/dev/acme-web"
#: Host keys as the probe returns them (full lines), and their fingerprints (the outputs).
ED25519 = "AAAAC3NzaC1lZDI1NTE5AAAAIGZlbGhvbS10ZXN0LWtleS0wMDAwMDAwMDAwMDAwMDAw"
KEYS = {
    "ssh-ed25519": f"ssh-ed25519 {ED25519}",
    "ecdsa-sha2-nistp256": "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTY=",
}
FPS = {t: line_fingerprint(line) for t, line in KEYS.items()}


def spec(**over: Any) -> GuestSpec:
    base: dict[str, Any] = dict(
        name="acme-web",
        owner=OWNER,
        node="pve",
        archive="local:backup/golden.tar.zst",
        hostname="acme-web",
        cores=2,
        memory=2048,
        swap=512,
        rootfs_storage="local-lvm",
        rootfs_gib=10,
        mounts=(MountSpec("local-lvm", 1, "/mnt/data"),),
    )
    base.update(over)
    return GuestSpec(**base)


def engine(
    pve: FakePve, *, shell: FakeShell | None = None, keys: Any = None, log: list[str] | None = None
) -> GuestEngine:
    clock = FakeClock()
    probe = keys if callable(keys) else (lambda host, port, timeout: dict(KEYS))
    return GuestEngine(
        pve,
        shell,
        progress=(log.append if log is not None else None),
        clock=clock,
        sleep=clock.sleep,
        probe=probe,
        lease_timeout_s=30,
        hostkey_timeout_s=20,
    )


def test_create_is_two_mutating_calls_and_verifies_identity() -> None:
    pve, log = FakePve(), list[str]()
    state = engine(pve, log=log).create(spec())
    # design §2.3 goal 2 (restore, start) plus the PUT that takes the never-started mark out
    # of the description before the first start (adoption may only destroy a never-started CT).
    assert pve.mutating() == ["restore_lxc", "put_config", "start"]
    assert state.mac != GOLDEN_MAC and state.mac.startswith("BC:24:11")  # F1
    assert state.hostname == "acme-web"  # F2
    assert state.host_keys == FPS and state.ipv4 and state.status == "running"
    assert state.mounts == (MountSpec("local-lvm", 1, "/mnt/data"),)
    assert any("one call" in line for line in log)
    assert all(line.startswith("acme-web: ") for line in log)


def test_restore_task_failure_rolls_back_and_attaches_journal() -> None:
    pve = FakePve(faults={"restore_lxc": ["task-fails"]})
    with pytest.raises(TaskFailedError) as info:
        engine(pve).create(spec())
    assert pve.cts == {}
    journal = info.value.journal
    assert journal is not None
    assert journal.steps()[:2] == ["verify-archive", "restore"]
    assert info.value.context["step"] == "restore"
    assert info.value.context["guest"] == "acme-web"


def test_start_failure_undoes_in_reverse_stop_then_destroy() -> None:
    pve = FakePve(faults={"start": ["task-fails"]})
    with pytest.raises(TaskFailedError):
        engine(pve).create(spec())
    assert pve.cts == {}
    after = pve.mutating()[pve.mutating().index("start") + 1 :]
    assert after == ["destroy"]  # stopped CT: the stop undo has nothing to stop


def test_host_key_failure_after_start_stops_then_destroys() -> None:
    pve = FakePve()
    with pytest.raises(HostKeyError, match="no node shell"):
        engine(pve, keys=lambda h, p, t: {}).create(spec())
    assert pve.cts == {}
    assert pve.mutating()[-2:] == ["stop", "destroy"]


def test_missing_keys_regenerated_over_shell_and_journaled() -> None:
    pve, appeared = FakePve(), {"yes": False}
    shell = FakeShell(on_exec=lambda vmid, argv: appeared.update(yes=argv[0] == "systemctl"))
    probe = lambda h, p, t: dict(KEYS) if appeared["yes"] else {}  # noqa: E731
    state = engine(pve, shell=shell, keys=probe).create(spec())
    assert [argv for _, argv in shell.execs] == [
        ["ssh-keygen", "-A"],
        ["systemctl", "restart", "ssh"],
    ]
    assert state.host_keys == FPS


def test_undo_failure_names_what_is_left() -> None:
    pve = FakePve(
        faults={"start": ["task-fails"], "destroy": [PermanentPveError("storage went away")]}
    )
    with pytest.raises(RollbackError) as info:
        engine(pve).create(spec())
    vmid = next(iter(pve.cts))
    assert info.value.leftovers == [f"CT {vmid} on node pve (destroy not done): storage went away"]
    assert isinstance(info.value.cause, TaskFailedError)


def test_vmid_taken_between_nextid_and_restore_rerolls() -> None:
    pve = FakePve(steal_next=True)
    state = engine(pve).create(spec())
    # The re-roll asks for nextid (101) plus a random offset below the first spread.
    assert 101 <= state.vmid < 101 + vmids.spread(2)
    assert pve.cts[100]["hostname"] == "intruder"
    assert [c for c in pve.calls if c[0] == "restore_lxc"] == [
        ("restore_lxc", 100),
        ("restore_lxc", state.vmid),
    ]


def test_pinned_vmid_taken_is_not_rerolled_and_not_destroyed() -> None:
    pve = FakePve()
    pve.cts[150] = {"hostname": "theirs", "description": "x\n"}
    with pytest.raises(Exception, match="already exists"):
        engine(pve).create(spec(vmid=150))
    assert pve.cts[150]["hostname"] == "theirs"


def test_dropped_connection_follows_task_without_second_restore() -> None:
    pve = FakePve(faults={"restore_lxc": [ConnectionLostError("reset")]})
    state = engine(pve).create(spec())
    assert [c[0] for c in pve.calls].count("restore_lxc") == 1
    assert ("find_task", ("vzrestore", state.vmid)) in pve.calls


def test_preflight_names_missing_privileges_before_any_change() -> None:
    pve = FakePve(missing=["VM.Allocate on /vms", "SDN.Use on /sdn/zones/localnetwork/vmbr0"])
    with pytest.raises(PermissionDeniedError, match=r"SDN\.Use") as info:
        engine(pve).create(spec())
    assert info.value.missing == pve.missing and pve.mutating() == []
    assert info.value.context["step"] == "preflight"


def test_required_privileges_cover_storages_bridge_and_archive_owner() -> None:
    from felhom_provider.reconcile.bringup import required_privileges  # noqa: PLC0415

    req = required_privileges(
        spec(archive="local:backup/vzdump-lxc-9100-2026_06_09-20_41_10.tar.zst", bridge="vmbr1")
    )
    assert "VM.Backup" in req["/vms/9100"] and "SDN.Use" in req["/sdn/zones/localnetwork/vmbr1"]
    assert "Datastore.AllocateSpace" in req["/storage/local-lvm"]


def test_permission_refusal_before_task_leaves_nothing() -> None:
    pve = FakePve(
        faults={"restore_lxc": [PermissionDeniedError("no", missing=["VM.Allocate on /vms/100"])]}
    )
    with pytest.raises(PermissionDeniedError):
        engine(pve).create(spec())
    assert pve.cts == {} and "destroy" not in pve.mutating()


def test_unfit_archive_refused_before_any_mutation() -> None:
    pve = FakePve(archive_conf="features: nesting=1\nunprivileged: 1\nnet0: name=eth0\n")
    with pytest.raises(VerificationError, match="keyctl"):
        engine(pve).create(spec())
    assert pve.mutating() == []


def test_adopts_verified_leftover_instead_of_duplicating() -> None:
    pve = FakePve()
    eng = engine(pve)
    first = eng.create(spec())
    pve.running.discard(first.vmid)  # a killed run: restored, never started
    pve.calls.clear()
    again = eng.create(spec())
    assert again.vmid == first.vmid and len(pve.cts) == 1
    assert pve.mutating() == ["start"]


def test_stopped_never_started_leftover_that_does_not_verify_is_cleaned_then_recreated() -> None:
    pve = FakePve()
    eng = engine(pve)
    first = eng.create(spec())
    pve.running.discard(first.vmid)
    # As a run killed between restore and start leaves it: the never-started mark is there.
    pve.cts[first.vmid]["description"] += NEVER_STARTED + "\n"
    again = eng.create(spec(cores=4))
    assert list(pve.cts) == [again.vmid] and again.cores == 4 and again.mac != first.mac
    assert "destroy" in pve.mutating()


def test_stopped_marked_guest_with_data_whose_state_entry_is_gone_is_never_destroyed() -> None:
    pve = FakePve()
    eng = engine(pve)
    first = eng.create(spec())  # started once: may hold data
    pve.running.discard(first.vmid)
    pve.calls.clear()
    with pytest.raises(VerificationError, match=f"pct destroy {first.vmid} --purge") as err:
        eng.create(spec(cores=4))
    assert "has been started by this tool" in str(err.value)
    assert list(pve.cts) == [first.vmid] and pve.mutating() == []


def test_running_leftover_that_does_not_verify_is_never_destroyed() -> None:
    pve = FakePve()
    eng = engine(pve)
    first = eng.create(spec())
    pve.calls.clear()
    with pytest.raises(VerificationError, match=f"CT {first.vmid} carries this resource"):
        eng.create(spec(cores=4))
    assert list(pve.cts) == [first.vmid] and pve.mutating() == []


def test_delete_refuses_foreign_guest_and_ignores_missing() -> None:
    pve = FakePve()
    pve.cts[300] = {"description": "felhom-owner=other/stack/x\n"}
    eng = engine(pve)
    with pytest.raises(OwnershipError):
        eng.delete(300, OWNER)
    assert 300 in pve.cts
    eng.delete(999, OWNER)  # missing counts as deleted
    with pytest.raises(OwnershipError):
        eng.read(300, OWNER)
    assert eng.read(999, OWNER) is None


def test_delete_stops_destroys_and_verifies() -> None:
    pve = FakePve()
    eng = engine(pve)
    state = eng.create(spec())
    pve.calls.clear()
    eng.delete(state.vmid, OWNER)
    assert pve.mutating() == ["stop", "destroy"] and pve.cts == {}


def test_update_applies_config_resize_and_reboots_running_guest() -> None:
    pve, log = FakePve(), list[str]()
    eng = engine(pve, log=log)
    old = eng.create(spec())
    pve.calls.clear()
    new = eng.update(old.vmid, spec(cores=4, hostname="acme-shop", rootfs_gib=12), old)
    assert pve.mutating() == ["put_config", "resize", "shutdown", "start"]
    assert (new.cores, new.hostname, new.rootfs_gib) == (4, "acme-shop", 12)
    assert any("restarted: hostname reach it only at start" in line for line in log)


def test_read_round_trips_state() -> None:
    pve = FakePve()
    eng = engine(pve)
    state = eng.create(spec(tags=("web",)))
    again = eng.read(state.vmid, OWNER)
    assert again is not None
    assert again.to_dict() == {**state.to_dict(), "node": "pve"}
    assert again.tags == ("web",) and again.archive == "local:backup/golden.tar.zst"
