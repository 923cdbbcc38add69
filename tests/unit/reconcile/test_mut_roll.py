"""``reconcile.roll`` at its edges: the step every failure names and what its roll-back does
(restores, hard stops, protection, starts), the exact PVE calls of a roll (holder, vzdump,
restore over, deletes), its journal, host keys per ``hostKeyCheck`` mode, lease and host-key
polling bounds, the locks and slots it holds, the rollout gate around a resume, and the
published state (mutation-testing gaps)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from felhom_provider.errors import (
    AlreadyExistsError,
    FelhomError,
    HostKeyError,
    PermanentPveError,
    PveError,
    VerificationError,
)
from felhom_provider.pve.props import parse_pct_conf
from felhom_provider.reconcile import locks, vmids
from felhom_provider.reconcile.hostkeys import READ_PUB, VerifiedKeys
from felhom_provider.reconcile.journal import Journal
from felhom_provider.reconcile.model import marker_for
from felhom_provider.reconcile.plan import ARCHIVE_PREFIX, check_archive_config
from felhom_provider.reconcile.roll import RollEngine
from felhom_provider.reconcile.roll_keys import NO_SHELL_NOTE
from felhom_provider.reconcile.roll_plan import HolderRecord, backup_notes, holder_overrides
from felhom_provider.reconcile.rollout import RolloutGate, RolloutSettings
from tests.unit.reconcile.fakes import FakeClock
from tests.unit.reconcile.roll_fake import (
    GOLDEN_NEW,
    GOLDEN_OLD,
    KEY_PATHS,
    KEY_TYPES,
    Archive,
    FakeNode,
    FakeNodeShell,
    Kill,
    golden_conf,
    key_pair,
    public_keys,
)
from tests.unit.reconcile.test_roll_engine import assert_clean, make_guest, snapshot, spec_for

OS = "/etc/os-release"
#: Interfaces PVE lists besides the guest's own NIC; a lease must be read by MAC.
LOOPBACK = {"name": "lo", "hwaddr": "00:00:00:00:00:00", "inet": "127.0.0.1/8"}
OTHER_NIC = {"name": "eth1", "hwaddr": "aa:bb:cc:00:00:01", "inet": "127.78.0.1/16"}
#: A PBS volid holds colons after the storage name.
PBS_NEW = "pbs:backup/ct/9200/2026-11-29T10:00:00Z"


@dataclass
class Node(FakeNode):
    """The fake node recording what a roll sends. ``refuse`` makes PVE refuse the nth call of
    a method before it has any effect; the new root filesystem's ``/etc/os-release`` makes the
    new guest misbehave: ``no-dhcp`` (no lease), ``new-ip`` (another lease), ``keys-lost``
    (written host keys do not land), ``broken-docker`` (the fake shell's Docker fails)."""

    refuse: dict[str, int] = field(default_factory=dict)
    restores: list[tuple[str, int, str, dict[str, Any]]] = field(default_factory=list)
    vzdumps: list[tuple[int, str, str | None]] = field(default_factory=list)
    deletes: list[tuple[str, str]] = field(default_factory=list)
    probes: list[tuple[str, int]] = field(default_factory=list)
    iface_reads: int = 0
    mangle: dict[str, Any] = field(default_factory=dict)
    taken: int = 0  # next_vmid first answers this many times with an existing CT
    lease_wait: int = 0  # reads of a running guest's interfaces without its address
    sshd_wait: int = 0  # handshakes refused at the new root filesystem
    inside_restore_over: Callable[[int], None] | None = None
    lose_dumps: bool = False  # vzdump succeeds but its archive is gone

    def _enter(self, name: str, arg: Any = None) -> tuple[bool, bool]:
        kill, fail = super()._enter(name, arg)
        if self.refuse.get(name) == self._counts[name]:
            raise PermanentPveError(f"refused {name} #{self._counts[name]}")
        return kill, fail

    def _os(self, vmid: int) -> str:
        return self.rootfs_files(vmid).get(OS, "")

    def _eth0(self, vmid: int) -> dict[str, Any] | None:
        ifaces = FakeNode.interfaces(self, vmid)
        if ifaces is None or self._os(vmid) == "no-dhcp":
            return None
        eth0 = dict(ifaces[0])
        if self._os(vmid) == "new-ip":
            eth0["inet"] = str(eth0["inet"]).replace("127.77.0.", "127.77.1.")
        return eth0

    def ip(self, vmid: int) -> str:
        eth0 = self._eth0(vmid)
        assert eth0 is not None
        return str(eth0["inet"]).split("/")[0]

    def interfaces(self, vmid: int) -> list[dict[str, Any]] | None:
        self.iface_reads += 1
        if vmid not in self.running:
            return None
        eth0 = self._eth0(vmid)
        if self.lease_wait and eth0 is not None:
            self.lease_wait -= 1
            eth0 = None
        return [dict(LOOPBACK), dict(OTHER_NIC), *([eth0] if eth0 else [])]

    def probe(self, host: str, port: int, timeout: float) -> dict[str, str]:
        self.probes.append((host, port))
        for vmid in sorted(self.running):
            if self._eth0(vmid) is not None and self.ip(vmid) == host:
                if self.sshd_wait and self._os(vmid) == "new":
                    self.sshd_wait -= 1
                    raise OSError("connection refused")
                return public_keys(self.rootfs_files(vmid))
        raise OSError("connection refused")

    def next_vmid(self, hint: int | None = None) -> int:
        if self.taken:
            self.taken -= 1
            return min(self.cts)
        return super().next_vmid(hint)

    def restore_lxc(self, vmid: int, archive: str, overrides: Any) -> str:
        self.restores.append(("new", vmid, archive, dict(overrides)))
        return super().restore_lxc(vmid, archive, overrides)

    def restore_over(self, vmid: int, archive: str, overrides: Any) -> str:
        self.restores.append(("over", vmid, archive, dict(overrides)))
        if self.inside_restore_over is not None:
            self.inside_restore_over(vmid)
        upid = super().restore_over(vmid, archive, overrides)
        if vmid in self.cts and self._os(vmid) != "old":
            self.cts[vmid].update(self.mangle)
        return upid

    def vzdump(self, vmid: int, storage: str, *args: Any, notes: str | None = None,
               **kw: Any) -> str:  # fmt: skip
        self.vzdumps.append((vmid, storage, notes))
        known = set(self.archives)
        upid = super().vzdump(vmid, storage, *args, notes=notes, **kw)
        if self.lose_dumps:
            for volid in set(self.archives) - known:
                del self.archives[volid]
        return upid

    def delete_volume(self, storage: str, volid: str) -> str | None:
        self.deletes.append((storage, volid))
        return super().delete_volume(storage, volid)

    def puts(self, vmid: int) -> list[dict[str, Any]]:
        return [arg[1] for name, arg in self.calls if name == "put_config" and arg[0] == vmid]

    def power(self, vmid: int) -> list[str]:
        kinds = ("start", "shutdown", "stop")
        return [name for name, arg in self.calls if name in kinds and arg == vmid]


@dataclass
class Shell(FakeNodeShell):
    """The node shell; ``install`` has no effect in a ``keys-lost`` guest."""

    def exec(self, vmid: int, argv: Any, stdin: bytes | str | None = None,
             timeout: float = 600.0) -> Any:  # fmt: skip
        argv = list(argv)
        if argv[0] == "install" and self.pve.rootfs_files(vmid).get(OS) == "keys-lost":
            self.execs.append((vmid, argv))
            return type("R", (), {"exit_code": 0, "stdout": "", "stderr": ""})()
        return super().exec(vmid, argv, stdin, timeout)

    def reads(self) -> int:
        return sum(1 for _, argv in self.execs if tuple(argv) == READ_PUB)


def guest(**kw: Any) -> tuple[Node, dict[str, Any]]:
    """The node with guest 101 on the old archive (running, protected unless said)."""
    pve = Node()
    make_guest(pve, 101, **kw)
    pve.restores.clear()
    return pve, snapshot(pve, 101)


def roller(
    pve: Node, log: list[str] | None = None, *, shell: bool = True, **kw: Any
) -> tuple[RollEngine, FakeClock, Shell | None]:
    clock = FakeClock()
    node_shell = Shell(pve) if shell else None
    args: dict[str, Any] = {
        "progress": log.append if log is not None else None,
        "clock": clock,
        "sleep": clock.sleep,
        "wallclock": lambda: 1_764_400_000.0,
        "probe": pve.probe,
        "lease_timeout_s": 5,
        "hostkey_timeout_s": 5,
    }
    args.update(kw)
    return RollEngine(pve, node_shell, **args), clock, node_shell


def new_os(pve: Node, text: str) -> None:
    pve.archives[GOLDEN_NEW].files[OS] = text


def old_public(pve: Node) -> dict[str, str]:
    return public_keys(pve.rootfs_files(101))


# --- bounds and defaults --------------------------------------------------------------------


def test_engine_defaults() -> None:
    eng = RollEngine(FakeNode())
    assert (eng.keys.port, eng.task_timeout_s, eng.vmid_attempts, eng.restores_per_node) == (
        22,
        600.0,
        vmids.ATTEMPTS,
        locks.DEFAULT_RESTORES_PER_NODE,
    )
    # a lease within two minutes, host keys within one, both read every second
    assert (eng.lease_timeout_s, eng.keys.timeout_s, eng.poll_s, eng.keys.poll_s) == (
        120.0,
        60.0,
        1.0,
        1.0,
    )
    assert eng.backup_storage is None


def test_a_late_lease_is_polled_every_poll_interval() -> None:
    pve, _ = guest()
    pve.lease_wait = 3
    eng, clock, _ = roller(pve, poll_s=0.25, lease_timeout_s=2)
    result = eng.roll(101, spec_for(101))
    assert clock.now == 0.75  # three reads without an address, one pause each
    assert result.state.ipv4 == pve.ip(101)


def test_no_lease_within_the_lease_timeout_rolls_back() -> None:
    pve, before = guest()
    new_os(pve, "no-dhcp")
    eng, clock, _ = roller(pve, poll_s=0.25, lease_timeout_s=1)
    with pytest.raises(VerificationError, match=r"CT 101 got no DHCP lease for .* within 1s"):
        eng.roll(101, spec_for(101))
    assert clock.now == 1.0
    assert snapshot(pve, 101) == before


def test_host_keys_without_a_shell_are_polled_until_sshd_answers() -> None:
    pve, _ = guest()
    pve.sshd_wait = 2
    eng, clock, _ = roller(pve, shell=False, poll_s=0.5)
    result = eng.roll(101, spec_for(101))
    assert clock.now == 1.0  # two refused handshakes, one pause each
    assert result.state.host_public_keys == old_public(pve)


def test_holder_vmid_attempts_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    # Re-rolls ask for ``nextid`` itself here; the random offset is ``test_vmids``'s.
    monkeypatch.setattr(vmids, "candidate", lambda next_free, attempt, rng=None: next_free)
    pve, before = guest()
    pve.taken = 2
    eng, _, _ = roller(pve, vmid_attempts=2)
    with pytest.raises(AlreadyExistsError) as info:
        eng.roll(101, spec_for(101))
    assert info.value.context["step"] == "holder"
    assert info.value.context["rolled_back"] == "CT 101 untouched"
    assert [(kind, vmid) for kind, vmid, _, _ in pve.restores] == [("new", 101), ("new", 101)]
    assert snapshot(pve, 101) == before

    pve, _ = guest()
    pve.taken = 2
    roller(pve, vmid_attempts=3)[0].roll(101, spec_for(101))
    assert [vmid for kind, vmid, _, _ in pve.restores if kind == "new"] == [101, 101, 200]


# --- the calls of a roll --------------------------------------------------------------------


@pytest.mark.parametrize(("rootfs_gib", "want_gib"), [(8, 10), (12, 12)])
def test_holder_and_restore_over_parameters(rootfs_gib: int, want_gib: int) -> None:
    pve, _ = guest()
    spec = replace(spec_for(101), bridge="vmbr7", rootfs_gib=rootfs_gib)
    result = roller(pve)[0].roll(101, spec)
    record = HolderRecord(spec.owner, 101, GOLDEN_OLD, GOLDEN_NEW, running=True, protected=True)
    want_holder = holder_overrides(
        record,
        storage="local-lvm",
        archive_config=parse_pct_conf(golden_conf(9200)),
        bridge="vmbr7",
    )
    (holder, over) = pve.restores
    assert holder == ("new", 200, GOLDEN_NEW, want_holder)
    assert over[:3] == ("over", 101, GOLDEN_NEW)
    assert over[3]["rootfs"] == f"local-lvm:{want_gib}"
    assert over[3]["protection"] == "1"
    assert result.state.rootfs_gib == want_gib


def test_the_old_rootfs_is_dumped_with_its_notes_and_deleted_after_the_commit() -> None:
    pve, _ = guest()
    spec = spec_for(101)
    roller(pve)[0].roll(101, spec)
    (dump,) = pve.vzdumps
    assert dump == (101, "local", backup_notes(spec.owner, GOLDEN_OLD))
    assert [storage for storage, _ in pve.deletes] == ["local"]
    assert pve.deletes[0][1].startswith("local:backup/vzdump-lxc-101-")
    assert_clean(pve, {101})


@pytest.mark.parametrize(
    ("backup_storage", "archive", "want"),
    [("bk", GOLDEN_NEW, "bk"), (None, PBS_NEW, "pbs")],
    ids=["configured", "archive-storage"],
)
def test_backup_storage(backup_storage: str | None, archive: str, want: str) -> None:
    pve, _ = guest()
    pve.archives[PBS_NEW] = Archive(golden_conf(9200), {OS: "new"})
    roller(pve, backup_storage=backup_storage)[0].roll(101, spec_for(101, archive))
    assert [(vmid, storage) for vmid, storage, _ in pve.vzdumps] == [(101, want)]
    assert [storage for storage, _ in pve.deletes] == [want]
    assert not [v for v in pve.archives if v.startswith(f"{want}:backup/vzdump-lxc-101-")]


def test_cleanup_deletes_only_this_guests_backups() -> None:
    pve, _ = guest()
    spec = spec_for(101)
    other = "local:backup/vzdump-lxc-555-000001.tar.zst"  # a former VMID of the same owner
    pve.archives[other] = Archive("", {}, backup_notes(spec.owner, GOLDEN_OLD), 555)
    roller(pve)[0].roll(101, spec)
    assert other in pve.archives
    assert [volid for _, volid in pve.deletes if "-555-" in volid] == []


def test_the_roll_state_is_published_like_a_bring_up() -> None:
    pve, _ = guest()
    log: list[str] = []
    keys = old_public(pve)
    result = roller(pve, log, guest_ssh_port=2222)[0].roll(101, spec_for(101))
    state = result.state
    want = (101, "pve", "running", pve.ip(101))
    assert (state.vmid, state.node, state.status, state.ipv4) == want
    assert state.ssh_port == 2222 and {port for _, port in pve.probes} == {2222}
    assert state.host_public_keys == keys
    assert state.host_keys == VerifiedKeys(keys).fingerprints
    assert result.host_keys_carried
    assert log and all(line.startswith("g101: ") for line in log)
    assert not [line for line in log if NO_SHELL_NOTE in line or "note: lease" in line]


def test_a_new_lease_is_told() -> None:
    pve, before = guest()
    new_os(pve, "new-ip")
    log: list[str] = []
    result = roller(pve, log)[0].roll(101, spec_for(101))
    old_ip = str(before["ip"][-1]["inet"]).split("/")[0]
    assert result.state.ipv4 == pve.ip(101) != old_ip
    assert [line for line in log if "note: lease" in line] == [
        f"g101: note: lease {pve.ip(101)} differs from the old {old_ip} (same MAC "
        f"{before['net0'].split('hwaddr=')[1][:17]})"
    ]


def test_a_stopped_guest_is_verified_then_shut_down_cleanly() -> None:
    pve, _ = guest(running=False, protection=False)
    result = roller(pve)[0].roll(101, spec_for(101))
    # started to read its keys, shut down for the roll, started to verify, shut down again
    assert pve.power(101) == ["start", "shutdown", "start", "shutdown"]
    assert (result.state.status, result.state.ipv4) == ("stopped", None)
    keys = public_keys(pve.rootfs_files(101))
    assert result.state.host_keys == VerifiedKeys(keys).fingerprints and result.host_keys_carried


@pytest.fixture
def tokyo(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("tokyo")
def test_the_rebuild_time_is_utc_whatever_the_local_zone() -> None:
    pve, _ = guest()
    result = roller(pve)[0].roll(101, spec_for(101))
    assert result.rootfs_rebuilt_at == "2025-11-29T07:06:40Z"


# --- no roll needed -------------------------------------------------------------------------


def test_a_running_guest_on_the_archive_is_read_as_it_is() -> None:
    pve, _ = guest()
    result = roller(pve)[0].roll(101, spec_for(101, GOLDEN_OLD))
    keys = old_public(pve)
    assert (result.state.status, result.state.ipv4) == ("running", pve.ip(101))
    assert result.state.host_keys == VerifiedKeys(keys).fingerprints
    assert result.state.host_public_keys == keys
    assert result.host_keys_carried
    assert (result.archive, result.state.archive) == (GOLDEN_OLD, GOLDEN_OLD)


def test_a_stopped_guest_on_the_archive_is_not_looked_into() -> None:
    pve, _ = guest(running=False)
    spec = replace(spec_for(101, GOLDEN_OLD), host_key_check="nodeShell")
    eng, _, shell = roller(pve)
    result = eng.roll(101, spec)
    assert (result.state.status, result.state.ipv4, result.state.host_keys) == (
        "stopped",
        None,
        {},
    )
    assert shell is not None and shell.execs == [] and pve.probes == []


# --- host keys per mode ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "handshakes", "file_reads"),
    [("handshake", True, False), ("nodeShell", False, True), ("both", True, True)],
)
@pytest.mark.parametrize("archive", [GOLDEN_NEW, GOLDEN_OLD], ids=["roll", "no-roll"])
def test_host_keys_are_read_as_the_mode_says(
    mode: str, handshakes: bool, file_reads: bool, archive: str
) -> None:
    pve, _ = guest()
    keys = old_public(pve)
    eng, _, shell = roller(pve)
    result = eng.roll(101, replace(spec_for(101, archive), host_key_check=mode))
    assert shell is not None
    assert (bool(pve.probes), bool(shell.reads())) == (handshakes, file_reads)
    assert result.state.host_public_keys == keys


def test_without_a_shell_the_new_keys_are_read_as_the_mode_says() -> None:
    pve, before = guest()
    eng, _, _ = roller(pve, shell=False)
    with pytest.raises(HostKeyError, match="CT 101 offers no SSH host keys") as info:
        eng.roll(101, replace(spec_for(101), host_key_check="nodeShell"))
    assert {k: info.value.context[k] for k in ("guest", "vmid", "step")} == {
        "guest": "g101",
        "vmid": 101,
        "step": "host-keys",
    }
    assert pve.probes == []
    assert snapshot(pve, 101) == before


# --- failures: the step they name and the roll-back -----------------------------------------

BACK = f"CT 101 back on {GOLDEN_OLD} with its data"
UNTOUCHED = "CT 101 untouched"


@dataclass(frozen=True)
class Failure:
    step: str
    refuse: tuple[str, ...] = ()  # methods refused at their first call ("name#n": nth)
    os: str = "new"
    running: bool = True
    protection: bool = True
    error: type[Exception] = PermanentPveError
    rolled_back: str = BACK
    puts: tuple[int, ...] | None = None  # protection values PUT on the guest
    power: tuple[str, ...] | None = None


FAILURES = [
    Failure("read-identity", ("start",), running=False, rolled_back=UNTOUCHED, power=("start",)),
    Failure(
        "holder", ("restore",), running=False, rolled_back=UNTOUCHED, power=("start", "shutdown")
    ),
    Failure("shutdown", ("shutdown", "stop"), power=("shutdown", "stop")),
    Failure("park-data", ("move_volume",), puts=()),
    Failure(
        "park-data",
        ("move_volume",),
        protection=False,
        running=False,
        puts=(),
        power=("start", "shutdown"),
    ),
    Failure("backup-old-rootfs", ("vzdump",)),
    Failure("backup-old-rootfs", ("put_config",), puts=()),
    Failure("restore-new-rootfs", ("put_config#2",), puts=(0,)),
    Failure("restore-new-rootfs", ("restore#2",), puts=(0, 1)),
    Failure("restore-new-rootfs", ("restore#2",), protection=False, puts=()),
    Failure("return-data", ("move_volume#2",)),
    Failure("start", ("start",)),
    Failure("lease", os="no-dhcp", error=VerificationError),
    Failure("host-keys", os="keys-lost", error=HostKeyError),
    Failure(
        "docker",
        os="broken-docker",
        error=VerificationError,
        puts=(0, 0),
        power=("shutdown", "start", "stop", "start"),
    ),
    Failure(
        "docker",
        os="broken-docker",
        error=VerificationError,
        protection=False,
        running=False,
        puts=(),
        power=("start", "shutdown", "start", "stop"),
    ),
    Failure("commit", ("put_config#3",)),
]


def _refusals(failure: Failure) -> dict[str, int]:
    out = {}
    for item in failure.refuse:
        name, _, nth = item.partition("#")
        out[name] = int(nth or 1)
    return out


@pytest.mark.parametrize("failure", FAILURES, ids=lambda f: f"{f.step}-{'-'.join(f.refuse)}")
def test_a_failed_step_is_named_and_rolled_back(failure: Failure) -> None:
    pve, before = guest(running=failure.running, protection=failure.protection)
    new_os(pve, failure.os)
    pve.refuse = _refusals(failure)
    with pytest.raises(failure.error) as info:
        roller(pve)[0].roll(101, spec_for(101))
    err = info.value
    assert isinstance(err, FelhomError)
    assert {k: err.context.get(k) for k in ("guest", "vmid", "step", "rolled_back")} == {
        "guest": "g101",
        "vmid": 101,
        "step": failure.step,
        "rolled_back": failure.rolled_back,
    }
    assert isinstance(err.journal, Journal)
    assert err.journal.subject == f"roll guest g101 (felhom/test/g101) to {GOLDEN_NEW}"
    assert snapshot(pve, 101) == before
    assert pve.rootfs_files(101)[OS] == "old"
    assert_clean(pve, {101})
    if failure.puts is not None:
        assert [p["protection"] for p in pve.puts(101)] == list(failure.puts)
    if failure.power is not None:
        assert pve.power(101) == list(failure.power)


def test_protection_put_back_by_a_roll_back_has_no_undo() -> None:
    pve, _ = guest()
    pve.refuse = {"restore": 2}
    with pytest.raises(PermanentPveError) as info:
        roller(pve)[0].roll(101, spec_for(101))
    assert isinstance(info.value.journal, Journal)
    entries = [
        e
        for e in info.value.journal.entries
        if e.step.startswith("protection") and e.action == {"vmid": 101}
    ]
    assert [(e.step, e.undo is None) for e in entries] == [
        ("protection-off", False),  # undone by a roll-back that reads PVE
        ("protection-on", True),
    ]


def test_a_roll_back_restores_only_when_the_guest_left_its_old_archive() -> None:
    pve, _ = guest()
    pve.refuse = {"put_config": 1}  # the backup exists, the guest is still on the old rootfs
    with pytest.raises(PermanentPveError):
        roller(pve)[0].roll(101, spec_for(101))
    assert [kind for kind, *_ in pve.restores] == ["new"]  # the holder only
    (dump,) = pve.vzdumps
    assert dump[:2] == (101, "local")
    assert [storage for storage, _ in pve.deletes] == ["local"]  # the vzdump, deleted


def test_a_guest_without_an_archive_line_is_not_restored_when_nothing_changed() -> None:
    pve, _ = guest()
    conf = pve.cts[101]
    conf["description"] = "\n".join(
        line for line in conf["description"].splitlines() if not line.startswith(ARCHIVE_PREFIX)
    )
    pve.refuse = {"put_config": 1}
    with pytest.raises(PermanentPveError) as info:
        roller(pve)[0].roll(101, spec_for(101))
    assert info.value.context["rolled_back"] == "CT 101 back on  with its data"
    assert [kind for kind, *_ in pve.restores] == ["new"]


def test_a_failure_while_cleaning_up_names_the_cleanup_and_a_rerun_finishes() -> None:
    pve, _ = guest()
    spec = spec_for(101)
    pve.refuse = {"delete_volume": 1}
    with pytest.raises(PermanentPveError) as info:
        roller(pve)[0].roll(101, spec)
    assert {k: info.value.context.get(k) for k in ("guest", "vmid", "step")} == {
        "guest": "g101",
        "vmid": 101,
        "step": "cleanup",
    }
    assert pve.rootfs_files(101)[OS] == "new"
    pve.refuse = {}
    roller(pve)[0].roll(101, spec)
    assert [storage for storage, _ in pve.deletes] == ["local", "local"]
    assert_clean(pve, {101})


MAC = "BC:24:11:00:00:99"
READ_BACK = [
    ("hostname", "other", "hostname 'other' instead of 'g101'"),
    ("net0", f"name=eth0,bridge=vmbr0,hwaddr={MAC},ip=dhcp,type=veth", f"MAC {MAC} instead of"),
    ("description", f"{marker_for('felhom/test/g101')}\n", "archive None instead of"),
    ("description", f"{ARCHIVE_PREFIX}{GOLDEN_NEW}\n", "owner None"),
    ("protection", "0", "protection '0'"),
    ("tags", "other", "tags 'other' instead of"),
    ("onboot", "0", "onboot '0' instead of '1'"),
    ("startup", "order=9", "startup 'order=9' instead of 'order=2'"),
    ("cores", "4", "cores '4' instead of '2'"),
    ("memory", "4096", "memory '4096' instead of '1024'"),
    ("swap", "0", "swap '0' instead of '512'"),
]  # fmt: skip


@pytest.mark.parametrize(("key", "value", "problem"), READ_BACK, ids=[r[2][:14] for r in READ_BACK])
def test_every_read_back_difference_rolls_back(key: str, value: str, problem: str) -> None:
    pve, before = guest()
    pve.mangle = {key: value}
    with pytest.raises(VerificationError) as info:
        roller(pve)[0].roll(101, spec_for(101))
    assert "CT 101 read-back after the restore differs: " in str(info.value)
    assert problem in str(info.value)
    assert info.value.context["step"] == "read-back"
    assert snapshot(pve, 101) == before
    assert_clean(pve, {101})


def test_every_read_back_difference_is_named() -> None:
    pve, _ = guest()
    pve.mangle = {"cores": "4", "memory": "4096"}
    with pytest.raises(VerificationError) as info:
        roller(pve)[0].roll(101, spec_for(101))
    assert str(info.value).startswith(
        "CT 101 read-back after the restore differs: "
        "cores '4' instead of '2'; memory '4096' instead of '1024'"
    )


def test_a_vzdump_that_left_no_archive_is_named_by_the_rolls_step() -> None:
    pve, before = guest()
    pve.lose_dumps = True
    with pytest.raises(PveError, match="vzdump of CT 101 left no archive") as info:
        roller(pve)[0].roll(101, spec_for(101))
    # the roll's step wins over the one the lower layer named ("backup")
    assert info.value.context["step"] == "backup-old-rootfs"
    assert info.value.context["rolled_back"] == BACK
    assert snapshot(pve, 101) == before
    assert_clean(pve, {101})


def test_a_readback_with_a_data_mount_too_many_rolls_back() -> None:
    pve, _ = guest()
    pve.mangle = {"mp1": "local-lvm:vm-101-disk-7,mp=/srv,size=1G"}
    pve.volumes["local-lvm:vm-101-disk-7"] = {}
    with pytest.raises(VerificationError, match="mp1: unexpected") as info:
        roller(pve)[0].roll(101, spec_for(101))
    assert info.value.context["step"] == "read-back"


# --- the journal ----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["handshake", "nodeShell"])
def test_the_journal_of_a_roll_that_failed_at_its_commit(mode: str) -> None:
    pve, _ = guest()
    keys = old_public(pve)
    ip = pve.ip(101)
    pve.refuse = {"put_config": 3}
    with pytest.raises(PermanentPveError) as info:
        roller(pve)[0].roll(101, replace(spec_for(101), host_key_check=mode))
    journal = info.value.journal
    assert isinstance(journal, Journal)
    by_step = {e.step: e for e in journal.entries}
    assert journal.steps()[:2] == ["read-identity", "holder"]
    identity = by_step["read-identity"]
    assert (identity.action, identity.result) == (
        {"vmid": 101},
        {"ip": ip, "host_keys": VerifiedKeys(keys).fingerprints},
    )
    assert by_step["carry-host-keys"].action == {"vmid": 101, "files": sorted(KEY_PATHS)}
    assert (by_step["docker"].action, by_step["docker"].result) == ({"vmid": 101}, "greets")


def test_the_journal_names_dockers_problem() -> None:
    pve, _ = guest()
    new_os(pve, "broken-docker")
    with pytest.raises(VerificationError) as info:
        roller(pve)[0].roll(101, spec_for(101))
    assert isinstance(info.value.journal, Journal)
    (docker,) = [e for e in info.value.journal.entries if e.step == "docker"]
    problem = "`docker run --rm hello-world` exited 125: keyctl denied"
    assert (docker.action, docker.result) == ({"vmid": 101}, problem)
    assert str(info.value).startswith(f"CT 101: {problem}")


# --- host keys carried over -----------------------------------------------------------------


@pytest.mark.parametrize("mode", ["handshake", "nodeShell"])
def test_keys_that_do_not_land_are_waited_for_then_refused(mode: str) -> None:
    pve, before = guest()
    new_os(pve, "keys-lost")
    baked = {}  # a golden with keys of its own: the guest presents them
    for kind in KEY_TYPES:
        private, public = key_pair(kind, "golden")
        baked[f"/etc/ssh/ssh_host_{kind}_key"] = private
        baked[f"/etc/ssh/ssh_host_{kind}_key.pub"] = public
    pve.archives[GOLDEN_NEW].files.update(baked)
    want = VerifiedKeys(old_public(pve)).fingerprints
    got = VerifiedKeys(public_keys(baked)).fingerprints
    eng, clock, _ = roller(pve, poll_s=0.5, hostkey_timeout_s=2)
    with pytest.raises(HostKeyError) as info:
        eng.roll(101, replace(spec_for(101), host_key_check=mode))
    assert str(info.value).startswith(
        "CT 101 does not present its old SSH host keys after they were written back "
        f"(want {want}, got {got})"
    )
    assert info.value.context["step"] == "host-keys"
    assert clock.now == 2.0
    assert snapshot(pve, 101) == before


# --- before any change ----------------------------------------------------------------------


def test_an_unfit_archive_is_refused_before_any_change() -> None:
    pve, _ = guest()
    conf = golden_conf(9200).replace("keyctl=1,", "").replace("unprivileged: 1", "")
    pve.archives[GOLDEN_NEW].conf = conf
    problems = check_archive_config(parse_pct_conf(conf)).problems
    assert len(problems) == 2
    with pytest.raises(VerificationError) as info:
        roller(pve)[0].roll(101, spec_for(101))
    assert str(info.value).startswith(f"archive {GOLDEN_NEW} is unfit: " + "; ".join(problems))
    assert {k: info.value.context.get(k) for k in ("guest", "vmid", "step")} == {
        "guest": "g101",
        "vmid": 101,
        "step": "verify-archive",
    }
    assert "keyctl" in str(info.value)
    assert pve.calls == [("list_lxc", None)] and pve.restores == []


def test_a_refused_config_names_the_ct() -> None:
    pve, _ = guest()
    pve.cts[101]["dev0"] = "/dev/net/tun"
    with pytest.raises(VerificationError, match="CT 101 cannot be rolled") as info:
        roller(pve)[0].roll(101, spec_for(101))
    assert info.value.context["vmid"] == 101


# --- locks, slots and the rollout gate ------------------------------------------------------


def test_the_restore_over_runs_under_the_guests_lock_in_a_slot_and_in_flight() -> None:
    pve, _ = guest()
    spec = spec_for(101)
    seen: list[tuple[bool, bool, bool]] = []

    def inside(vmid: int) -> None:
        def other_thread() -> None:
            lock = locks.guest_lock(spec.owner)
            got_lock = lock.acquire(blocking=False)
            if got_lock:
                lock.release()
            slots = locks.restore_slots("pve", 1)
            got_slot = slots.acquire(blocking=False)
            if got_slot:
                slots.release()
            seen.append((got_lock, got_slot, locks.is_inflight("pve", vmid)))

        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()

    pve.inside_restore_over = inside
    roller(pve, restores_per_node=1)[0].roll(101, spec)
    assert seen == [(False, False, True)]


def _killed_mid_roll(pve: Node) -> None:
    pve.kill = ("move_volume", 1, "after")  # the data parked on the holder
    with pytest.raises(Kill):
        roller(pve)[0].roll(101, spec_for(101))
    pve.kill = None


def test_a_paused_rollout_still_rolls_back_a_killed_roll() -> None:
    pve, before = guest()
    _killed_mid_roll(pve)
    gate = RolloutGate("acme", RolloutSettings())
    with pytest.raises(RuntimeError), gate.slot("g9"):
        raise RuntimeError("boom")
    with pytest.raises(FelhomError, match="paused after a failed roll"):
        roller(pve)[0].roll(101, spec_for(101), gate=gate)
    assert snapshot(pve, 101) == before
    assert_clean(pve, {101})


def test_a_failed_resume_pauses_the_rollout_naming_the_guest() -> None:
    pve, _ = guest()
    _killed_mid_roll(pve)
    gate = RolloutGate("acme", RolloutSettings())
    pve.refuse = {"destroy": 1}
    with pytest.raises(PveError):
        roller(pve)[0].roll(101, spec_for(101), gate=gate)
    assert (gate.failed or "").startswith("g101: refused destroy #1")
