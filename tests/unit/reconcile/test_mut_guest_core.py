"""``reconcile.guest_core`` through create, read and update: the default bounds and their
wiring, the address a guest is reached at, bring-online's journal entries and steps, the
host-key read's arguments, and ``_finish`` (keys, protection, state) (mutation-testing gaps)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from felhom_provider.errors import (
    AlreadyExistsError,
    FelhomError,
    GuestCommandError,
    HostKeyError,
    PermanentPveError,
    TaskFailedError,
    VerificationError,
)
from felhom_provider.reconcile import GuestEngine
from felhom_provider.reconcile.access import AUTHORIZED_KEYS, HEADER
from felhom_provider.reconcile.journal import Journal, JournalEntry, JournalStatus
from felhom_provider.reconcile.model import GuestState
from felhom_provider.reconcile.ports import Progress
from felhom_provider.reconcile.undo import StopCT

from .fakes import FakeClock, FakePve, FakeShell, Result
from .test_engine_fakes import FPS, KEYS, OWNER, spec
from .test_engine_features import CUSTOMER, PUB_PATH

#: The fresh MAC the fake gives the first restored CT (``FakePve._mac``).
FIRST_MAC = "BC:24:11:00:00:10"
#: A NIC PVE lists before the guest's own one (another veth; only the MAC tells them apart).
FOREIGN_NIC = {"name": "eth1", "hwaddr": "bc:24:11:ff:ff:ff", "inet": "127.99.0.9/24"}


@dataclass
class Pve(FakePve):
    """FakePve that keeps what the engine sends beyond the call names."""

    puts: list[dict[str, Any]] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)
    shutdowns: list[tuple[int, int]] = field(default_factory=list)
    nics: list[dict[str, Any]] = field(default_factory=list)
    exitstatus: str = "OK"
    on_put: Callable[[int], None] | None = None

    def put_config(
        self,
        vmid: int,
        params: Mapping[str, Any] | None = None,
        delete: Any = (),
        digest: str | None = None,
        **options: Any,
    ) -> None:
        self.puts.append(
            {"vmid": vmid, "params": {**(params or {}), **options}, "delete": delete,
             "digest": digest}
        )  # fmt: skip
        if self.on_put is not None:
            self.on_put(vmid)
        super().put_config(vmid, params, delete, digest, **options)

    def wait_task(self, upid: str, timeout_s: float, on_progress: Any = None) -> Result:
        self.waits.append(timeout_s)
        super().wait_task(upid, timeout_s, on_progress)
        return Result(self.exitstatus)

    def shutdown(self, vmid: int, timeout: int = 60, *, force_stop: bool = False) -> str:
        self.shutdowns.append((vmid, timeout))
        return super().shutdown(vmid, timeout, force_stop=force_stop)

    def interfaces(self, vmid: int) -> list[dict[str, Any]] | None:
        ifaces = super().interfaces(vmid)
        return None if ifaces is None else [*self.nics, *ifaces]

    def lease(self, vmid: int) -> str:
        """The address the fake leases to ``vmid`` (see ``FakePve.interfaces``)."""
        return f"127.77.0.{vmid % 250}"

    def protection_puts(self) -> list[dict[str, Any]]:
        return [p for p in self.puts if "protection" in p["params"]]


class Probe:
    """The handshake probe: answers ``keys`` and records where it was asked."""

    def __init__(self, keys: Mapping[str, str] | None = None) -> None:
        self.keys = dict(KEYS if keys is None else keys)
        self.seen: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int, timeout: float) -> dict[str, str]:
        self.seen.append((host, port))
        return dict(self.keys)


class Spied(GuestEngine):
    """GuestEngine whose appliers record every ``run(kind, vmid, what)``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.runs: list[tuple[str, int, str]] = []

    def _applier(self, say: Progress) -> Any:
        applier = super()._applier(say)
        original = applier.run

        def run(kind: str, vmid: int, what: str, send: Callable[[], Any]) -> Any:
            self.runs.append((kind, vmid, what))
            return original(kind, vmid, what, send)

        applier.run = run  # type: ignore[method-assign]
        return applier


def build(
    pve: FakePve,
    *,
    shell: FakeShell | None = None,
    probe: Any = None,
    log: list[str] | None = None,
    clock: FakeClock | None = None,
    **options: Any,
) -> Spied:
    """A spied engine on a fake clock; ``options`` are the engine's bounds."""
    clock = clock or FakeClock()
    return Spied(
        pve,
        shell,
        progress=log.append if log is not None else None,
        clock=clock,
        sleep=clock.sleep,
        probe=Probe() if probe is None else probe,
        **options,
    )


def failure(call: Callable[[], Any], kind: type[FelhomError] = FelhomError) -> FelhomError:
    """The error ``call`` raises (with its context and journal)."""
    with pytest.raises(kind) as info:
        call()
    return info.value


def journal_of(err: FelhomError) -> Journal:
    """The journal the error carries."""
    assert isinstance(err.journal, Journal)
    return err.journal


def entry(err: FelhomError, step: str) -> JournalEntry:
    """The one journal entry of ``step`` the error carries."""
    found = [e for e in journal_of(err).entries if e.step == step]
    assert len(found) == 1, journal_of(err).steps()
    return found[0]


# --- construction: default bounds and their wiring ------------------------------------------


class Stealing(Pve):
    """Another process takes every VMID the restore asks for, just before the POST."""

    def restore_lxc(self, vmid: int, archive: str, overrides: Any) -> Any:
        self.cts.setdefault(vmid, {"hostname": "intruder", "description": "someone else\n"})
        return super().restore_lxc(vmid, archive, overrides)


def test_default_bounds() -> None:
    clock = FakeClock()
    # The lease wait: 120 s, polled every second, on the injected clock.
    pve = Pve(leases=False)
    err = failure(lambda: build(pve, clock=clock).create(spec()), VerificationError)
    assert "within 120s" in str(err) and clock.now == 120.0
    assert [c[0] for c in pve.calls].count("interfaces") == 121
    # Host keys: 60 s; the task wait: 600 s; the SSH port: 22.
    pve, clock = Pve(), FakeClock()
    probe = Probe({})
    err = failure(lambda: build(pve, probe=probe, clock=clock).create(spec()), HostKeyError)
    assert "after 60s" in str(err) and clock.now == 60.0
    assert set(pve.waits) == {600.0} and {port for _, port in probe.seen} == {22}
    state = build(Pve()).create(spec())
    assert state.ssh_port == 22
    # Eight VMIDs are tried when each one is taken meanwhile (vmids.ATTEMPTS).
    pve = Stealing()
    failure(lambda: build(pve).create(spec()), AlreadyExistsError)
    assert [c[0] for c in pve.calls].count("restore_lxc") == 8


def test_bounds_given_reach_the_steps() -> None:
    clock, pve = FakeClock(), Pve(leases=False)
    eng = build(pve, clock=clock, lease_timeout_s=30, poll_s=2.0, task_timeout_s=45.0)
    err = failure(lambda: eng.create(spec()), VerificationError)
    assert "within 30s" in str(err) and clock.now == 30.0
    assert [c[0] for c in pve.calls].count("interfaces") == 16
    assert set(pve.waits) == {45.0}
    probe, clock = Probe({}), FakeClock()
    eng = build(Pve(), probe=probe, clock=clock, hostkey_timeout_s=7.0, poll_s=2.0)
    failure(lambda: eng.create(spec()), HostKeyError)
    assert clock.now == 8.0 and len(probe.seen) == 5  # t = 0, 2, 4, 6, 8
    pve = Stealing()
    failure(lambda: build(pve, vmid_attempts=2).create(spec()), AlreadyExistsError)
    assert [c[0] for c in pve.calls].count("restore_lxc") == 2


def test_guest_ssh_port_is_probed_and_recorded() -> None:
    probe, pve = Probe(), Pve()
    state = build(pve, probe=probe, guest_ssh_port=2222).create(spec())
    assert probe.seen == [(pve.lease(state.vmid), 2222)]
    assert state.ssh_port == 2222


def test_journal_names_the_verb_guest_and_owner() -> None:
    err = failure(lambda: build(Pve(), probe=Probe({})).create(spec()), HostKeyError)
    assert journal_of(err).subject == f"create guest acme-web ({OWNER})"


# --- the address a guest is reached at ------------------------------------------------------

NET0 = "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:03:00,type=veth"


@pytest.mark.parametrize(
    ("ip", "want"),
    [
        (",ip=127.0.60.5/24,gw=127.0.60.1", "127.0.60.5"),  # static: no lease to ask for
        (",ip=dhcp", "lease"),
        (",ip=manual", "lease"),
        ("", "lease"),  # no ip= at all: whatever the guest configured itself
    ],
)
def test_address_is_the_static_one_else_the_lease_of_our_mac(ip: str, want: str) -> None:
    pve = Pve(nics=[FOREIGN_NIC])
    pve.cts[300] = {"net0": NET0 + ip, "description": f"felhom-owner={OWNER}\n"}
    pve.running.add(300)
    probe = Probe()
    state = build(pve, probe=probe).read(300, OWNER)
    assert state is not None
    address = pve.lease(300) if want == "lease" else want
    assert state.ipv4 == address and probe.seen == [(address, 22)]
    assert (
        ("interfaces", 300) in pve.calls if want == "lease" else "interfaces" not in str(pve.calls)
    )


# --- bring online: start, lease, host keys ------------------------------------------------


def test_bring_online_journal_start_and_lease() -> None:
    # Authorized keys without a node shell fail after bring-online: the journal shows it.
    pve = Pve(exitstatus="WARNINGS: 1", nics=[FOREIGN_NIC])
    eng = build(pve, probe=Probe())
    err = failure(lambda: eng.create(spec(ssh_authorized_keys=(CUSTOMER,))), VerificationError)
    vmid = 100
    start = entry(err, "start")
    assert (start.action, start.undo) == ({"vmid": vmid}, StopCT(vmid=vmid, node="pve"))
    assert start.result == "WARNINGS: 1" and start.status is JournalStatus.UNDONE
    lease = entry(err, "lease")
    assert (lease.action, lease.result) == ({"vmid": vmid, "mac": FIRST_MAC}, pve.lease(vmid))
    assert ("vzstart", vmid, "start") in eng.runs
    assert err.context["step"] == "authorized-keys"


def test_lease_is_the_one_of_the_guests_mac() -> None:
    pve = Pve(nics=[FOREIGN_NIC])
    state = build(pve).create(spec())
    assert state.ipv4 == pve.lease(state.vmid)


def test_running_guest_is_not_started_again() -> None:
    pve = Pve()
    eng = build(pve)
    state = eng.create(spec())
    pve.calls.clear()
    eng.runs.clear()
    eng.update(state.vmid, spec(hostname="acme-shop"), state)  # a reboot: bring-online again
    assert pve.mutating() == ["put_config", "shutdown", "start"]
    assert eng.runs == [("vzshutdown", state.vmid, "shutdown"), ("vzstart", state.vmid, "start")]


@pytest.mark.parametrize(
    ("case", "kind", "context"),
    [
        ("start-fails", TaskFailedError, {"step": "start", "guest": "acme-web"}),
        ("no-lease", VerificationError, {"step": "lease", "guest": "acme-web", "vmid": 100}),
        ("no-host-keys", HostKeyError, {"step": "host-keys", "guest": "acme-web", "vmid": 100}),
    ],
)
def test_bring_online_failures_name_their_step(
    case: str, kind: type[FelhomError], context: dict[str, Any]
) -> None:
    faults = {"start": ["task-fails"]} if case == "start-fails" else {}
    pve = Pve(leases=case != "no-lease", faults=faults)
    probe = Probe({} if case == "no-host-keys" else None)
    err = failure(lambda: build(pve, probe=probe).create(spec()), kind)
    assert {k: err.context.get(k) for k in context} == context
    assert pve.cts == {}, "rolled back"


def test_changed_host_keys_after_a_reboot_are_refused() -> None:
    probe, pve = Probe(), Pve()
    eng = build(pve, probe=probe)
    state = eng.create(spec())
    probe.keys = {"ssh-ed25519": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG90aGVy"}
    err = failure(lambda: eng.update(state.vmid, spec(hostname="acme-shop"), state), HostKeyError)
    assert "different SSH host keys" in str(err)
    assert err.context == {"guest": "acme-web", "vmid": state.vmid, "step": "host-keys"}


def test_node_shell_keys_are_read_in_the_guest_being_brought_up() -> None:
    shell = FakeShell(files={(100, PUB_PATH): KEYS["ssh-ed25519"] + " root@acme\n"})
    state = build(Pve(), shell=shell, probe=Probe({})).create(spec(host_key_check="nodeShell"))
    assert state.vmid == 100 and state.host_keys == {"ssh-ed25519": FPS["ssh-ed25519"]}
    assert {vmid for vmid, _ in shell.execs} == {100}
    assert all(argv[0] != "ssh-keygen" for _, argv in shell.execs), "no regeneration needed"


# --- finish: authorized keys, protection, the state ----------------------------------------


class FailingInstall(FakeShell):
    """A node shell whose ``install`` exits 1 (e.g. a read-only /root)."""

    def exec(
        self, vmid: int, argv: Any, stdin: bytes | str | None = None, timeout: float = 600.0
    ) -> Any:
        argv = list(argv)
        if argv[0] == "install":
            self.execs.append((vmid, argv))
            return type("R", (), {"exit_code": 1, "stdout": "", "stderr": "read-only"})()
        return super().exec(vmid, argv, stdin, timeout)


def test_authorized_keys_failure_names_its_step() -> None:
    pve = Pve()
    eng = build(pve, shell=FailingInstall())
    err = failure(lambda: eng.create(spec(ssh_authorized_keys=(CUSTOMER,))), GuestCommandError)
    assert err.context["step"] == "authorized-keys" and pve.cts == {}


def test_update_without_keys_empties_the_file_a_create_without_keys_leaves_alone() -> None:
    pve, shell = Pve(), FakeShell()
    eng = build(pve, shell=shell)
    state = eng.create(spec())
    assert shell.execs == [], "a fresh guest has no keys to take away"
    eng.update(state.vmid, spec(ssh_authorized_keys=(CUSTOMER,)), state)
    assert shell.files[(state.vmid, AUTHORIZED_KEYS)] == f"{HEADER}\n{CUSTOMER}\n"
    eng.update(state.vmid, spec(), state)
    assert shell.files[(state.vmid, AUTHORIZED_KEYS)] == f"{HEADER}\n"


def test_protection_is_set_last_with_the_digest_read_before() -> None:
    pve = Pve()
    state = build(pve).create(spec(protection=True))
    (put,) = pve.protection_puts()
    assert put["params"] == {"protection": 1} and put["vmid"] == state.vmid
    assert put["digest"] is not None and put == pve.puts[-1]
    assert state.settings["protection"] is True


def test_protection_already_set_is_not_written_again() -> None:
    pve = Pve()
    eng = build(pve)
    state = eng.create(spec(protection=True))
    pve.puts.clear()
    eng.update(state.vmid, spec(protection=True, cores=3), state)
    assert pve.protection_puts() == [] and len(pve.puts) == 1


def test_protection_write_refused_names_its_step() -> None:
    # The first PUT takes the never-started mark out; the second one is protection's.
    pve = Pve(faults={"put_config": [None, PermanentPveError("no")]})
    err = failure(lambda: build(pve).create(spec(protection=True)), PermanentPveError)
    assert err.context["step"] == "protection" and pve.cts == {}


def test_state_carries_node_status_and_port_as_found() -> None:
    pve = Pve()
    eng = build(pve, guest_ssh_port=2200)
    state = eng.create(spec(node="pve"))
    assert (state.node, state.status, state.ssh_port) == ("pve", "running", 2200)


class StopsAfterKeys(Pve):
    """The guest stops on its own between the host-key read and the final status."""

    def status(self, vmid: int) -> dict[str, Any]:
        if any(c[0] == "interfaces" for c in self.calls):
            self.running.discard(vmid)
        return super().status(vmid)


def test_finish_reports_the_status_pve_shows_now() -> None:
    state: GuestState = build(StopsAfterKeys()).create(spec())
    assert state.status == "stopped"
