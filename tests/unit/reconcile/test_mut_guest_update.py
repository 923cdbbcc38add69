"""``reconcile.guest_update`` step by step: the guest lock, the context and journal of a
failed update, each step's PVE call, the reboot and bring-online after it, what a running or
stopped guest reports afterwards, the pool check, and the digest re-plans (mutation-testing
gaps)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Any

import pytest

from felhom_provider.errors import OwnershipError, PermanentPveError, TaskFailedError
from felhom_provider.reconcile import locks
from felhom_provider.reconcile.guest_update import DIGEST_ATTEMPTS
from felhom_provider.reconcile.journal import JournalStatus
from felhom_provider.reconcile.model import GuestState

from .fakes import FakeShell
from .test_engine_fakes import FPS, KEYS, OWNER, spec
from .test_engine_features import PUB_PATH
from .test_mut_guest_core import FOREIGN_NIC, Probe, Pve, Spied, build, entry, failure, journal_of

#: Other host keys than ``KEYS`` (the guest's keys were regenerated meanwhile).
OTHER = {"ssh-ed25519": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG90aGVy"}


def created(pve: Pve, **over: Any) -> tuple[Spied, GuestState, Probe]:
    """A created guest, the engine's records cleared."""
    probe = Probe()
    eng = build(pve, probe=probe, **over.pop("engine", {}))
    state = eng.create(spec(**over))
    pve.calls.clear()
    pve.puts.clear()
    eng.runs.clear()
    probe.seen.clear()
    return eng, state, probe


# --- the lock, and what a failed update carries --------------------------------------------


def test_update_holds_the_guests_lock_while_it_writes() -> None:
    pve = Pve()
    eng, state, _ = created(pve)
    taken: list[bool] = []

    def try_lock() -> None:
        lock = locks.guest_lock(OWNER)
        got = lock.acquire(blocking=False)
        if got:
            lock.release()
        taken.append(got)

    def on_put(vmid: int) -> None:
        other = threading.Thread(target=try_lock)
        other.start()
        other.join()

    pve.on_put = on_put
    eng.update(state.vmid, spec(cores=3), state)
    assert taken == [False], "another thread waits for the guest while it is updated"


def test_foreign_owner_is_refused_at_observe_with_the_journal() -> None:
    pve = Pve()
    eng, state, _ = created(pve)
    pve.cts[state.vmid]["description"] = "felhom-owner=other/stack/x\n"
    err = failure(lambda: eng.update(state.vmid, spec(cores=3), state), OwnershipError)
    assert err.context == {"vmid": state.vmid, "guest": "acme-web", "step": "observe"}
    assert f"CT {state.vmid} carries owner 'other/stack/x'" in str(err)
    assert journal_of(err).subject == f"update guest acme-web ({OWNER})"
    assert pve.puts == []


class FailingResize(Pve):
    """The resize task fails (e.g. the thin pool is full)."""

    def resize(self, vmid: int, disk: str, size: str) -> str:
        self.calls.append(("resize", (vmid, disk, size)))
        return self._task("resize", vmid, "lvextend failed")


def test_each_step_is_journaled_and_a_failure_names_it() -> None:
    pve = FailingResize()
    eng, state, _ = created(pve)
    digest = pve.get_config(state.vmid)["digest"]
    err = failure(
        lambda: eng.update(state.vmid, spec(cores=3, rootfs_gib=12), state), TaskFailedError
    )
    assert err.context["step"] == "resize" and err.context["guest"] == "acme-web"
    assert journal_of(err).steps() == ["config", "resize"]
    config, resize = entry(err, "config"), entry(err, "resize")
    assert (config.action, config.status) == (
        {"vmid": state.vmid, "cores": 3, "digest": digest},
        JournalStatus.DONE,
    )
    assert (resize.action, resize.status) == (
        {"vmid": state.vmid, "disk": "rootfs", "size": "12G"},
        JournalStatus.PENDING,
    )
    assert ("resize", (state.vmid, "rootfs", "12G")) in pve.calls
    assert eng.runs == [("resize", state.vmid, "resize")]


def test_config_refused_with_the_digest_unchanged_is_raised_at_once() -> None:
    pve = Pve()
    eng, state, _ = created(pve)
    pve.faults["put_config"] = [PermanentPveError("unable to apply: invalid value")]
    err = failure(lambda: eng.update(state.vmid, spec(cores=3), state), PermanentPveError)
    assert len(pve.puts) == 1 and err.context["step"] == "config"
    assert entry(err, "config").status is JournalStatus.PENDING


# --- the config PUT and its digest re-plans ------------------------------------------------


def test_config_put_sends_values_deletions_and_the_planned_digest() -> None:
    pve = Pve()
    eng, state, _ = created(pve, nameserver=("127.0.0.53",))
    pve.running.discard(state.vmid)  # stopped: no reboot for the DNS change
    digest = pve.get_config(state.vmid)["digest"]
    eng.update(state.vmid, spec(cores=3), state)
    assert pve.puts == [
        {"vmid": state.vmid, "params": {"cores": 3}, "delete": "nameserver", "digest": digest}
    ]
    assert "nameserver" not in pve.cts[state.vmid]


def test_concurrent_edits_are_re_planned_a_bounded_number_of_times() -> None:
    pve = Pve()
    eng, state, _ = created(pve)
    digests: list[str | None] = []

    def someone_edits(vmid: int) -> None:
        digests.append(pve.puts[-1]["digest"])
        pve.cts[vmid]["description"] += "note\n"

    pve.on_put = someone_edits
    err = failure(lambda: eng.update(state.vmid, spec(cores=3), state), PermanentPveError)
    assert len(pve.puts) == DIGEST_ATTEMPTS == 3 and err.context["step"] == "config"
    assert len(set(digests)) == 3, "each attempt is planned against the config it read"
    assert pve.cts[state.vmid]["cores"] == "2"


# --- the reboot and bring-online after it ---------------------------------------------------


def test_reboot_is_a_clean_shutdown_then_start_and_the_guest_is_read_again() -> None:
    pve = Pve(nics=[FOREIGN_NIC])
    eng, state, probe = created(pve)
    new = eng.update(state.vmid, spec(hostname="acme-shop"), state)
    assert pve.shutdowns == [(state.vmid, 60)]
    assert eng.runs == [("vzshutdown", state.vmid, "shutdown"), ("vzstart", state.vmid, "start")]
    lease = pve.lease(state.vmid)
    assert new.ipv4 == lease and probe.seen == [(lease, 22)]
    assert new.host_keys == FPS and new.status == "running"


def test_changed_host_keys_after_the_reboot_are_refused() -> None:
    pve = Pve()
    eng, state, probe = created(pve)
    probe.keys = dict(OTHER)
    err = failure(lambda: eng.update(state.vmid, spec(hostname="acme-shop"), state))
    assert "different SSH host keys" in str(err) and err.context["step"] == "host-keys"


@dataclass
class StopsOnce(Pve):
    """The guest stops on its own right after the next start (e.g. a crashing service)."""

    crash: bool = False

    def start(self, vmid: int) -> str:
        upid = super().start(vmid)
        if self.crash:
            self.crash = False
            self.running.discard(vmid)
        return upid


def test_guest_stopped_after_the_reboot_is_started_again() -> None:
    pve = StopsOnce()
    eng, state, _ = created(pve)
    pve.crash = True
    new = eng.update(state.vmid, spec(hostname="acme-shop"), state)
    assert pve.mutating() == ["put_config", "shutdown", "start", "start"]
    assert eng.runs[-1] == ("vzstart", state.vmid, "start") and new.status == "running"


# --- what a running or stopped guest reports without a reboot ------------------------------


def test_running_guest_host_keys_are_read_at_its_address() -> None:
    pve = Pve(nics=[FOREIGN_NIC])
    eng, state, probe = created(pve)
    probe.keys = dict(OTHER)
    new = eng.update(state.vmid, spec(cores=3), state)
    lease = pve.lease(state.vmid)
    assert probe.seen == [(lease, 22)] and new.ipv4 == lease
    assert new.host_public_keys == OTHER, "the keys as read now"


def test_running_guest_without_a_visible_lease_keeps_its_recorded_keys() -> None:
    pve = Pve()
    eng, state, probe = created(pve)
    pve.leases = False
    new = eng.update(state.vmid, spec(cores=3), state)
    assert probe.seen == [] and new.ipv4 is None and new.status == "running"
    assert new.host_public_keys == state.host_public_keys == KEYS


def test_stopped_guest_is_not_asked_for_its_address_or_keys() -> None:
    pve = Pve()
    eng, state, probe = created(pve, engine={"guest_ssh_port": 2200})
    pve.running.discard(state.vmid)
    new = eng.update(state.vmid, spec(cores=3), state)
    assert "interfaces" not in [c[0] for c in pve.calls] and probe.seen == []
    assert (new.status, new.ipv4, new.host_public_keys) == ("stopped", None, KEYS)
    assert (new.cores, new.node, new.ssh_port) == (3, "pve", 2200)


def test_node_shell_mode_reads_the_updated_guests_files() -> None:
    shell = FakeShell(files={(100, PUB_PATH): KEYS["ssh-ed25519"] + " root@acme\n"})
    pve = Pve()
    eng, state, probe = created(pve, host_key_check="nodeShell", engine={"shell": shell})
    probe.keys = {}
    shell.execs.clear()
    new = eng.update(state.vmid, spec(cores=3, host_key_check="nodeShell"), state)
    assert new.host_keys == {"ssh-ed25519": FPS["ssh-ed25519"]} and probe.seen == []
    assert {vmid for vmid, _ in shell.execs} == {state.vmid}


# --- the pool, and "nothing to do" ---------------------------------------------------------


@pytest.mark.parametrize(
    ("member", "wanted", "asked", "moved"),
    [
        ("gold", "gold", [("gold", 100)], []),
        (None, "gold", [("gold", 100)], [("gold", 100)]),
        ("gold", None, [], []),
    ],
)
def test_pool_is_asked_only_when_wanted_and_moved_only_when_elsewhere(
    member: str | None, wanted: str | None, asked: list[Any], moved: list[Any]
) -> None:
    pve = Pve()
    eng, state, _ = created(pve)
    if member:
        pve.pools[member] = {state.vmid}
    eng.update(state.vmid, spec(pool=wanted), state)
    assert [c[1] for c in pve.calls if c[0] == "in_pool"] == asked
    assert [c[1] for c in pve.calls if c[0] == "set_pool"] == moved


@pytest.mark.parametrize(
    ("over", "pending", "quiet"),
    [
        ({}, (), True),
        ({"cores": 3}, (), False),
        ({"restarts": "deferred"}, ("hostname",), False),  # still pending: not "nothing"
    ],
)
def test_nothing_to_change_is_said_only_when_nothing_is_planned_or_pending(
    over: dict[str, Any], pending: tuple[str, ...], quiet: bool
) -> None:
    pve, log = Pve(), list[str]()
    eng, state, _ = created(pve, engine={"log": log})
    old = replace(state, pending_restart=pending)
    log.clear()
    eng.update(state.vmid, spec(**over), old)
    assert any("no in-place changes needed" in line for line in log) is quiet
