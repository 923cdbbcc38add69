"""``reconcile.bringup`` step by step: the privileges asked for, create's journal entries and
failing steps, import's marker write and what it observes, read's owner check and key mode,
delete's lock, lines and protection clearing (mutation-testing gaps)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import pytest

from felhom_provider.errors import (
    OwnershipError,
    PermanentPveError,
    VerificationError,
)
from felhom_provider.pve.permissions import guest_bringup_privileges
from felhom_provider.pve.props import parse_pct_conf
from felhom_provider.reconcile import GuestEngine, locks
from felhom_provider.reconcile.access import AUTHORIZED_KEYS
from felhom_provider.reconcile.bringup import required_privileges
from felhom_provider.reconcile.journal import Journal
from felhom_provider.reconcile.model import FELHOM_TAG, MountSpec, marker_for, owner_tag
from felhom_provider.reconcile.plan import check_archive_config
from felhom_provider.reconcile.ports import PveApi
from felhom_provider.reconcile.provision import Run

from .fakes import GOLDEN_CONF, GOLDEN_MAC, FakeClock, FakePve, FakeShell
from .test_engine_fakes import FPS, KEYS, OWNER, engine, spec

#: Host-key lines found inside the guest: not what the address offers (``KEYS``).
FILE_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGZpbGUta2V5LWluc2lkZS10aGUtZ3Vlc3QtMDAwMA=="


class Recording(FakePve):
    """Keeps the privileges asked for and every ``put_config``'s digest; faults on
    ``get_config`` and ``list_lxc`` too."""

    asked: list[dict[str, set[str]]]
    digests: list[str | None]

    def preflight(self, required: Any) -> None:
        self.__dict__.setdefault("asked", []).append(dict(required))
        super().preflight(required)

    def put_config(
        self, vmid: int, params: Any = None, delete: Any = (), digest: str | None = None, **kw: Any
    ) -> None:
        self.__dict__.setdefault("digests", []).append(digest)
        super().put_config(vmid, params, delete, digest, **kw)

    def get_config(self, vmid: int, *, current: bool = False) -> dict[str, Any]:
        fault = self._fault("get_config")
        if isinstance(fault, Exception):
            raise fault
        return super().get_config(vmid, current=current)

    def list_lxc(self) -> list[dict[str, Any]]:
        fault = self._fault("list_lxc")
        if isinstance(fault, Exception):
            raise fault
        return super().list_lxc()


def runs_of(eng: GuestEngine, monkeypatch: pytest.MonkeyPatch) -> list[Run]:
    """Every ``Run`` the engine starts, to read a successful create's journal."""
    runs: list[Run] = []
    make = eng._run

    def keep(s: Any, verb: str) -> Run:
        runs.append(make(s, verb))
        return runs[-1]

    monkeypatch.setattr(eng, "_run", keep)
    return runs


def locked_keys(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The keys ``locks.serialised`` is entered with from the bring-up module."""
    keys: list[str] = []

    @contextmanager
    def serialised(key: str) -> Iterator[None]:
        keys.append(key)
        yield

    monkeypatch.setattr(locks, "serialised", serialised)
    return keys


# --- privileges -------------------------------------------------------------------------


def test_required_privileges_name_every_path_of_the_spec() -> None:
    archive = "pbs:backup/ct/9100/2026-06-09T20:41:10Z"
    got = required_privileges(
        spec(
            vmid=120,
            archive=archive,
            mounts=(MountSpec("tank", 1, "/mnt/data"),),
            bridge="vmbr1",
            network={"ip": "dhcp", "vlan": 42},
            pool="gold",
        )
    )
    want = guest_bringup_privileges(
        vmid=120,
        storages={"local-lvm", "tank"},
        backup_storage="pbs",
        archive_owner_vmid=None,
        bridge="vmbr1",
        vlan=42,
        pool="gold",
    )
    assert got == want
    # The paths spelled out: a pinned VMID, the backup storage before the first ``:``, the
    # VLAN's own SDN path and the pool.
    assert {"/vms/120", "/storage/pbs", "/sdn/zones/localnetwork/vmbr1/42", "/pool/gold"} <= set(
        got
    )
    assert "/storage/pbs:backup/ct/9100/2026-06-09T20" not in got and "/vms" not in got


def test_required_privileges_without_pin_vlan_or_pool() -> None:
    got = required_privileges(spec(archive="local:backup/vzdump-lxc-9100-2026_06_09.tar.zst"))
    assert set(got) == {
        "/vms",
        "/storage/local",
        "/storage/local-lvm",
        "/sdn/zones/localnetwork/vmbr0",
        "/vms/9100",
    }
    assert got["/vms/9100"] == {"VM.Backup"}


# --- create -----------------------------------------------------------------------------


def test_create_asks_for_the_specs_privileges_and_journals_each_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pve = Recording()
    eng = engine(pve)
    runs = runs_of(eng, monkeypatch)
    keys = locked_keys(monkeypatch)
    state = eng.create(spec())
    assert pve.asked == [required_privileges(spec())]
    assert ("extractconfig", spec().archive) in pve.calls
    assert keys == [OWNER]
    [run] = runs
    assert run.journal.subject == f"create guest acme-web ({OWNER})"
    by_step = {e.step: e for e in run.journal.entries}
    facts = check_archive_config(parse_pct_conf(GOLDEN_CONF))
    verify = by_step["verify-archive"]
    assert verify.action == {"archive": spec().archive}
    assert verify.result == {
        "mac": GOLDEN_MAC,
        "hostname": "felhom-golden",
        "features": facts.features,
    }
    readback = by_step["read-back"]
    assert readback.action == {"vmid": state.vmid} and readback.result == {"problems": []}
    # The lease is waited for on the restored CT's own (fresh) MAC.
    assert by_step["lease"].action == {"vmid": state.vmid, "mac": state.mac}
    assert state.mac != GOLDEN_MAC


def test_an_archive_config_answered_as_a_mapping_is_used_as_it_is() -> None:
    class Mapped(FakePve):
        def extractconfig(self, volid: str) -> Any:
            super().extractconfig(volid)
            return parse_pct_conf(GOLDEN_CONF)

    state = engine(Mapped()).create(spec())
    assert state.hostname == "acme-web" and state.mac != GOLDEN_MAC


def test_an_unfit_archive_names_every_problem() -> None:
    conf = "features: nesting=1\nunprivileged: 0\nnet0: name=eth0\n"
    problems = check_archive_config(parse_pct_conf(conf)).problems
    assert len(problems) >= 2
    pve = FakePve(archive_conf=conf)
    with pytest.raises(VerificationError) as info:
        engine(pve).create(spec())
    assert info.value.message == f"archive {spec().archive} is unfit: " + "; ".join(problems)
    assert info.value.context == {"guest": "acme-web", "step": "verify-archive"}
    assert pve.mutating() == []


@pytest.mark.parametrize(
    ("faults", "step"),
    [
        ({"extractconfig": 1}, "verify-archive"),
        ({"list_lxc": 1}, "adopt"),
        ({"get_config": 1}, "read-back"),
    ],
)
def test_a_failure_names_the_step_it_happened_in(faults: dict[str, int], step: str) -> None:
    class Failing(Recording):
        def extractconfig(self, volid: str) -> str:
            fault = self._fault("extractconfig")
            if isinstance(fault, Exception):
                raise fault
            return super().extractconfig(volid)

    pve = Failing(faults={k: [PermanentPveError("boom")] for k in faults})
    with pytest.raises(PermanentPveError) as info:
        engine(pve).create(spec())
    assert info.value.context["step"] == step
    assert pve.cts == {}, "whatever was restored is rolled back"


def test_a_restore_that_kept_the_archives_mac_fails_read_back_and_is_rolled_back() -> None:
    class KeepsMac(FakePve):
        def restore_lxc(self, vmid: int, archive: str, overrides: Any) -> str:
            upid = super().restore_lxc(vmid, archive, overrides)
            net0 = self.cts[vmid]["net0"]
            self.cts[vmid]["net0"] = net0.split(",hwaddr=")[0] + f",hwaddr={GOLDEN_MAC}"
            self.cts[vmid]["hostname"] = "felhom-golden"
            return upid

    pve = KeepsMac()
    with pytest.raises(VerificationError) as info:
        engine(pve).create(spec())
    err = info.value
    assert err.message.startswith("CT 100 read-back differs from the spec: ")
    assert GOLDEN_MAC in err.message
    assert err.context == {
        "guest": "acme-web",
        "vmid": 100,
        "step": "read-back",
        "rolled_back": "destroyed CT 100",
    }
    assert isinstance(err.journal, Journal)
    [readback] = [e for e in err.journal.entries if e.step == "read-back"]
    assert readback.action == {"vmid": 100}
    problems = readback.result["problems"]
    assert len(problems) == 2 and any(GOLDEN_MAC in p for p in problems)
    assert err.message == "CT 100 read-back differs from the spec: " + "; ".join(problems)
    assert pve.cts == {} and "start" not in pve.mutating()


# --- import -----------------------------------------------------------------------------

HAND_MADE = {
    "hostname": "legacy",
    "cores": "2",
    "memory": "1024",
    "swap": "512",
    "net0": "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:03:00,ip=dhcp,type=veth",
    "rootfs": "local-lvm:vm-300-disk-0,size=8G",
    "unprivileged": "1",
}


def importing(**over: Any) -> Any:
    return spec(import_=300, hostname="legacy", mounts=(), **over)


def test_importing_a_missing_ct_names_it() -> None:
    pve = FakePve()
    with pytest.raises(VerificationError) as info:
        engine(pve).create(importing())
    assert info.value.message == "CT 300 to import does not exist"
    assert info.value.context == {"guest": "acme-web", "vmid": 300, "step": "import"}
    assert pve.mutating() == []


def test_importing_a_ct_of_another_owner_names_it() -> None:
    pve = FakePve()
    pve.cts[300] = {**HAND_MADE, "description": marker_for("other/stack/x") + "\n"}
    with pytest.raises(OwnershipError) as info:
        engine(pve).create(importing())
    assert info.value.message.startswith(f"CT 300 carries owner 'other/stack/x', not '{OWNER}'")
    assert info.value.context == {"guest": "acme-web", "vmid": 300, "step": "import"}
    assert pve.mutating() == []


def test_import_writes_the_marker_and_sorted_tags_with_the_digest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pve = Recording()
    pve.cts[300] = {**HAND_MADE, "tags": "web;db"}
    digest = pve.get_config(300)["digest"]
    eng = engine(pve)
    runs = runs_of(eng, monkeypatch)
    eng.create(importing())
    put = [p for name, p in pve.calls if name == "put_config"]
    tags = ";".join(sorted({"db", "web", FELHOM_TAG, owner_tag(OWNER)}))
    # No description before: the marker line alone (and an empty rest).
    assert put == [(300, {"description": f"{marker_for(OWNER)}\n", "tags": tags})]
    assert pve.digests == [digest]
    [run] = runs
    assert [(e.step, e.action) for e in run.journal.entries] == [
        ("verify-archive", {"archive": spec().archive}),
        ("import", {"vmid": 300}),
    ]


def test_a_failed_marker_write_names_the_import_step() -> None:
    pve = FakePve(faults={"put_config": [PermanentPveError("storage busy")]})
    pve.cts[300] = dict(HAND_MADE)
    with pytest.raises(PermanentPveError) as info:
        engine(pve).create(importing())
    assert info.value.context["step"] == "import"
    assert 300 in pve.cts, "an imported CT is never destroyed by a rollback"


def test_import_of_a_marked_ct_writes_nothing() -> None:
    pve = FakePve()
    pve.cts[300] = {**HAND_MADE, "description": marker_for(OWNER) + "\n"}
    engine(pve).create(importing())
    assert pve.mutating() == []


def test_a_stopped_import_reads_no_address_keys_or_guest_files() -> None:
    probed: list[str] = []
    shell = FakeShell()
    pve = FakePve()
    # A static address in the config: still no address for a stopped CT.
    pve.cts[300] = {**HAND_MADE, "net0": HAND_MADE["net0"].replace("ip=dhcp", "ip=192.0.2.5/24")}

    def probe(host: str, port: int, timeout: float) -> dict[str, str]:
        probed.append(host)
        return dict(KEYS)

    state = engine(pve, shell=shell, keys=probe).create(
        importing(ssh_authorized_keys=("ssh-ed25519 AAAAC3Nz operator",), host_key_check="both")
    )
    assert (state.status, state.ipv4, state.host_keys, state.host_public_keys) == (
        "stopped",
        None,
        {},
        {},
    )
    assert shell.execs == [] and probed == []
    assert "interfaces" not in [name for name, _ in pve.calls]


def test_a_running_import_observes_address_and_keys_by_the_specs_mode() -> None:
    probed: list[tuple[str, int]] = []
    pve = FakePve()
    pve.cts[300] = dict(HAND_MADE)
    pve.running.add(300)
    shell = FakeShell(files={(300, "/etc/ssh/ssh_host_ed25519_key.pub"): FILE_KEY + "\n"})
    clock = FakeClock()

    def probe(host: str, port: int, timeout: float) -> dict[str, str]:
        probed.append((host, port))
        return dict(KEYS)

    eng = GuestEngine(pve, shell, guest_ssh_port=2222, clock=clock, sleep=clock.sleep, probe=probe)
    state = eng.create(importing())
    lease = "127.77.0.50"
    assert (state.node, state.status, state.ipv4, state.ssh_port) == ("pve", "running", lease, 2222)
    # ``handshake``: the keys the address offers, not the files inside the guest.
    assert state.host_keys == FPS and state.host_public_keys == KEYS
    assert probed == [(lease, 2222)] and shell.execs == []
    pve.cts[300]["description"] = marker_for(OWNER) + "\n"
    inside = eng.create(importing(host_key_check="nodeShell"))
    assert inside.host_public_keys == {"ssh-ed25519": FILE_KEY}


def test_a_running_import_writes_the_authorized_keys() -> None:
    pve = FakePve()
    pve.cts[300] = dict(HAND_MADE)
    pve.running.add(300)
    shell = FakeShell()
    engine(pve, shell=shell).create(importing(ssh_authorized_keys=("ssh-ed25519 AAAAC3Nz op",)))
    assert "ssh-ed25519 AAAAC3Nz op" in shell.files[(300, AUTHORIZED_KEYS)]


# --- read -------------------------------------------------------------------------------


def test_read_refuses_a_ct_of_another_owner() -> None:
    pve = FakePve()
    pve.cts[300] = {**HAND_MADE, "description": marker_for("other/stack/x") + "\n"}
    with pytest.raises(OwnershipError) as info:
        engine(pve).read(300, OWNER)
    assert info.value.message == f"CT 300 carries owner 'other/stack/x', not '{OWNER}'"
    assert info.value.context == {"vmid": 300, "step": "read"}


def guest(pve: FakePve, *, running: bool) -> int:
    pve.cts[300] = {**HAND_MADE, "description": marker_for(OWNER) + "\n"}
    if running:
        pve.running.add(300)
    return 300


def test_read_checks_host_keys_by_handshake_unless_told() -> None:
    pve = FakePve()
    shell = FakeShell(files={(300, "/etc/ssh/ssh_host_ed25519_key.pub"): FILE_KEY + "\n"})
    eng = engine(pve, shell=shell)
    vmid = guest(pve, running=True)
    state = eng.read(vmid, OWNER)
    assert state is not None and state.host_public_keys == KEYS and shell.execs == []
    inside = eng.read(vmid, OWNER, "nodeShell")
    assert inside is not None and inside.host_public_keys == {"ssh-ed25519": FILE_KEY}


def test_read_of_a_stopped_guest_looks_neither_at_its_address_nor_inside() -> None:
    pve = FakePve()
    shell = FakeShell(files={(300, "/etc/ssh/ssh_host_ed25519_key.pub"): FILE_KEY + "\n"})
    vmid = guest(pve, running=False)
    pve.cts[300]["net0"] = HAND_MADE["net0"].replace("ip=dhcp", "ip=192.0.2.5/24")
    state = engine(pve, shell=shell).read(vmid, OWNER, "nodeShell")
    assert state is not None
    assert (state.status, state.ipv4, state.host_public_keys) == ("stopped", None, {})
    assert shell.execs == []


class NoStatus(FakePve):
    """A status answer without ``status``."""

    def status(self, vmid: int) -> dict[str, Any]:
        super().status(vmid)
        return {}


def test_a_status_answer_without_status_reads_as_unknown_not_running() -> None:
    pve = NoStatus()
    vmid = guest(pve, running=True)
    state = engine(pve).read(vmid, OWNER)
    assert state is not None and (state.status, state.ipv4, state.host_keys) == ("", None, {})


class Bare:
    """A client without a ``node`` attribute."""

    def __init__(self, pve: FakePve) -> None:
        self._pve = pve

    def __getattr__(self, name: str) -> Any:
        if name == "node":
            raise AttributeError(name)
        return getattr(self._pve, name)


@pytest.mark.parametrize("node", [None, "", "missing"])
def test_read_names_no_node_when_the_client_has_none(node: str | None) -> None:
    pve = FakePve()
    vmid = guest(pve, running=False)
    clock = FakeClock()
    client: Any = Bare(pve) if node == "missing" else pve
    if node != "missing":
        pve.node = cast(str, node)
    eng = GuestEngine(cast(PveApi, client), None, guest_ssh_port=2222, clock=clock)
    state = eng.read(vmid, OWNER)
    assert state is not None and state.node == "" and state.ssh_port == 2222


# --- delete -----------------------------------------------------------------------------


def test_delete_holds_the_owners_lock_and_says_when_the_ct_was_gone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keys = locked_keys(monkeypatch)
    pve, log = FakePve(), list[str]()
    vmid = guest(pve, running=False)
    eng = engine(pve, log=log)
    eng.delete(vmid, OWNER)
    assert keys == [OWNER] and pve.cts == {}
    assert log and all(line.startswith(f"{OWNER}: ") for line in log)
    assert not any("already gone" in line for line in log)
    eng.delete(vmid, OWNER)
    assert log[-1] == f"{OWNER}: CT {vmid} already gone"


def test_delete_clears_protection_with_the_configs_digest_first() -> None:
    pve = Recording()
    vmid = guest(pve, running=False)
    pve.cts[vmid]["protection"] = "1"
    digest = pve.get_config(vmid)["digest"]
    engine(pve).delete(vmid, OWNER)
    assert [p for name, p in pve.calls if name == "put_config"] == [(vmid, {"protection": 0})]
    assert pve.digests == [digest]
    assert pve.mutating() == ["put_config", "destroy"] and pve.cts == {}


def test_delete_leaves_the_protection_of_a_ct_not_ours_alone() -> None:
    pve = FakePve()
    pve.cts[300] = {**HAND_MADE, "protection": "1", "description": marker_for("other/x/y") + "\n"}
    with pytest.raises(OwnershipError):
        engine(pve).delete(300, OWNER)
    assert pve.mutating() == [] and pve.cts[300]["protection"] == "1"


def test_an_import_whose_status_answer_lacks_status_is_taken_as_stopped() -> None:
    pve = NoStatus()
    pve.cts[300] = dict(HAND_MADE)
    pve.running.add(300)
    state = engine(pve).create(importing())
    assert (state.status, state.ipv4, state.host_keys) == ("stopped", None, {})
