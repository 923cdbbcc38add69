"""``reconcile.hostkeys.HostKeys`` with a scripted shell and probe: the exact commands and
timeouts, the journal entries, and the errors of each mode (mutation-testing gaps)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from felhom_provider.errors import GuestCommandError, HostKeyError
from felhom_provider.guest.hostkeys import line_fingerprint
from felhom_provider.reconcile.hostkeys import (
    READ_PUB,
    HostKeys,
    VerifiedKeys,
    check_exec,
    parse_pub_files,
)
from felhom_provider.reconcile.journal import Journal

from .fakes import FakeClock

ED = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGZlbGhvbS10ZXN0LWtleS0wMDAwMDAwMDAwMDAwMDAw"
EC = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTY="
KEYS = {"ssh-ed25519": ED, "ecdsa-sha2-nistp256": EC}
PUB_TEXT = f"{ED} root@golden\n{EC} root@golden\n"


@dataclass
class Result:
    exit_code: Any = 0
    stdout: Any = ""
    stderr: str = ""


@dataclass
class Shell:
    """``pct exec`` stand-in: answers READ_PUB with ``pub`` (once ``keys_after`` calls ran)."""

    pub: Any = PUB_TEXT
    keys_after: int = 0
    fail: tuple[str, ...] = ()
    calls: list[tuple[int, list[str], float]] = field(default_factory=list)

    def exec(self, vmid: int, argv: Any, stdin: Any = None, timeout: float = 600.0) -> Result:
        self.calls.append((vmid, list(argv), timeout))
        if argv[0] in self.fail:
            return Result(exit_code=3, stderr="x" * 600 + "tail")
        if tuple(argv) == READ_PUB:
            if len(self.calls) <= self.keys_after:
                return Result(exit_code=1)
            return Result(stdout=self.pub)
        return Result()


class Probe:
    """A handshake stand-in that offers ``keys`` (after ``fail_first`` failed tries)."""

    def __init__(self, keys: dict[str, str], fail_first: int = 0) -> None:
        self.keys, self.fail_first = keys, fail_first
        self.calls: list[tuple[str, int, float]] = []

    def __call__(self, host: str, port: int, timeout: float) -> dict[str, str]:
        self.calls.append((host, port, timeout))
        if len(self.calls) <= self.fail_first:
            raise OSError("connection refused")
        return dict(self.keys)


def keys_for(shell: Any, probe: Probe | None, port: int = 2222) -> HostKeys:
    clock = FakeClock()
    return HostKeys(shell, probe, port=port, clock=clock, sleep=clock.sleep, timeout_s=10.0,
                    poll_s=1.0)  # fmt: skip


@pytest.mark.parametrize(
    ("text", "want"),
    [
        (PUB_TEXT, KEYS),
        (f"{ED}\n", {"ssh-ed25519": ED}),  # no comment
        ("ssh-ed25519\n", {}),  # no key blob
        ("ssh-dss AAAAB3 x\n", {}),  # not a type ssh-keygen -A makes
        ("", {}),
        ("\n\n# c\n", {}),
    ],
)
def test_parse_pub_files(text: str, want: dict[str, str]) -> None:
    assert parse_pub_files(text) == want


@pytest.mark.parametrize(("code", "raises"), [(0, False), (None, False), ("", False), (1, True)])
def test_check_exec(code: Any, raises: bool) -> None:
    result = Result(exit_code=code, stderr="e" * 600 + "end")
    if not raises:
        check_exec(result, ("true",), 5)
        check_exec(object(), ("true",), 5)  # a shell result without an exit code passed
        return
    with pytest.raises(GuestCommandError) as info:
        check_exec(result, ("ssh-keygen", "-A"), 5)
    err = info.value
    assert err.message == "`ssh-keygen -A` in CT 5 exited 1"
    assert err.exit_code == 1 and err.context["vmid"] == 5
    assert err.stderr == ("e" * 600 + "end")[-500:]


def test_read_files_runs_the_glob_inside_the_guest_with_a_minute_timeout() -> None:
    shell = Shell(pub=PUB_TEXT.encode())
    hk = keys_for(shell, None)
    assert hk.read_files(7) == KEYS
    assert shell.calls == [(7, list(READ_PUB), 60)]
    assert READ_PUB == ("sh", "-c", "cat /etc/ssh/ssh_host_*_key.pub")
    assert keys_for(None, None).read_files(7) == {}
    assert keys_for(Shell(keys_after=5), None).read_files(7) == {}


def test_read_files_of_a_result_without_stdout_is_empty() -> None:
    class Bare:
        def exec(self, vmid: int, argv: Any, stdin: Any = None, timeout: float = 0) -> Any:
            return object()

    assert keys_for(Bare(), None).read_files(7) == {}


def test_handshake_mode_probes_the_address_and_port_and_journals() -> None:
    probe = Probe(KEYS, fail_first=2)
    hk = keys_for(Shell(), probe, port=2222)
    journal, lines = Journal(subject="g"), list[str]()
    verified = hk.ensure(7, "10.0.0.9", journal, lines.append, guest="g")
    assert verified == VerifiedKeys(KEYS)
    assert verified.fingerprints == {t: line_fingerprint(v) for t, v in sorted(KEYS.items())}
    assert probe.calls == [("10.0.0.9", 2222, 5.0)] * 3
    [entry] = journal.entries
    assert (entry.step, entry.status) == ("host-keys", "done")
    assert entry.action == {"ip": "10.0.0.9", "port": 2222, "mode": "handshake"}
    assert entry.result == KEYS
    assert lines == ["reading SSH host keys: 10.0.0.9:2222 (handshake)"]


def test_node_shell_mode_reads_the_files_of_this_guest_only() -> None:
    shell = Shell(keys_after=2)
    probe = Probe({"ssh-ed25519": "ssh-ed25519 OTHER"})
    hk = keys_for(shell, probe)
    journal, lines = Journal(subject="g"), list[str]()
    verified = hk.ensure(7, "10.0.0.9", journal, lines.append, guest="g", mode="nodeShell")
    assert verified.public == KEYS and probe.calls == []
    assert {c[0] for c in shell.calls} == {7} and len(shell.calls) == 3
    assert journal.entries[0].action["mode"] == "nodeShell"
    assert lines == ["reading SSH host keys: /etc/ssh over pct exec"]


def test_both_mode_requires_equal_keys_and_names_the_differing_types() -> None:
    hk = keys_for(Shell(), Probe(KEYS))
    journal, lines = Journal(subject="g"), list[str]()
    assert hk.ensure(7, "10.0.0.9", journal, lines.append, guest="g", mode="both").public == KEYS
    assert lines == ["reading SSH host keys: 10.0.0.9:2222 (handshake) and /etc/ssh over pct exec"]
    other = {"ssh-ed25519": "ssh-ed25519 OTHER", "ecdsa-sha2-nistp256": EC}
    hk = keys_for(Shell(), Probe(other))
    with pytest.raises(HostKeyError) as info:
        hk.ensure(7, "10.0.0.9", Journal(subject="g"), lines.append, guest="g", mode="both")
    assert info.value.message.startswith(
        "the SSH server at 10.0.0.9 offers host keys ['ssh-ed25519'] that CT 7 does not hold"
    )
    assert info.value.context == {"vmid": 7, "step": "host-keys"}


def test_both_mode_with_a_type_the_files_lack_is_a_mismatch() -> None:
    extra = {**KEYS, "ssh-rsa": "ssh-rsa AAAAB3NzaC1yc2E="}
    hk = keys_for(Shell(), Probe(extra))
    with pytest.raises(HostKeyError, match=r"offers host keys \['ssh-rsa'\]"):
        hk.ensure(7, "10.0.0.9", Journal(subject="g"), lambda _l: None, guest="g", mode="both")


def test_no_keys_and_no_shell_is_a_clear_error() -> None:
    hk = keys_for(None, Probe({}))
    journal = Journal(subject="g")
    with pytest.raises(HostKeyError) as info:
        hk.ensure(7, "10.0.0.9", journal, lambda _l: None, guest="web")
    err = info.value
    assert err.message.startswith(
        "CT 7 offers no SSH host keys on 10.0.0.9:2222 after 10s and no node shell"
    )
    assert err.context == {"guest": "web", "vmid": 7, "step": "host-keys"}
    assert journal.entries == []


def test_missing_keys_are_regenerated_once_with_journaled_commands() -> None:
    shell = Shell(keys_after=100)
    hk = keys_for(shell, None)
    journal, lines = Journal(subject="g"), list[str]()

    def appear(vmid: int, argv: Any, stdin: Any = None, timeout: float = 600.0) -> Result:
        if argv[0] == "systemctl":
            shell.keys_after = 0
        return Shell.exec(shell, vmid, argv, stdin, timeout)

    shell.exec = appear  # type: ignore[method-assign]
    verified = hk.ensure(7, "10.0.0.9", journal, lines.append, guest="g", mode="nodeShell")
    assert verified.public == KEYS
    regen = [c for c in shell.calls if tuple(c[1]) != READ_PUB]
    assert regen == [(7, ["ssh-keygen", "-A"], 120), (7, ["systemctl", "restart", "ssh"], 120)]
    assert [(e.step, e.action, e.status, e.result) for e in journal.entries] == [
        ("regen-host-keys", {"vmid": 7, "argv": ["ssh-keygen", "-A"]}, "done", 0),
        ("regen-host-keys", {"vmid": 7, "argv": ["systemctl", "restart", "ssh"]}, "done", 0),
        ("host-keys", {"ip": "10.0.0.9", "port": 2222, "mode": "nodeShell"}, "done", KEYS),
    ]
    assert lines[-1] == (
        "no host keys found; regenerating with pct exec ssh-keygen -A, restarting ssh"
    )


def test_a_failed_regeneration_command_stops_with_its_exit() -> None:
    shell = Shell(keys_after=100, fail=("ssh-keygen",))
    hk = keys_for(shell, None)
    journal = Journal(subject="g")
    with pytest.raises(GuestCommandError) as info:
        hk.ensure(7, "10.0.0.9", journal, lambda _l: None, guest="g", mode="nodeShell")
    assert info.value.exit_code == 3 and info.value.context["vmid"] == 7
    assert info.value.stderr.endswith("tail") and len(info.value.stderr) == 500
    assert [e.status for e in journal.entries] == ["pending"]


def test_still_no_keys_after_regeneration() -> None:
    hk = keys_for(Shell(keys_after=1000), Probe({}))
    with pytest.raises(HostKeyError) as info:
        hk.ensure(7, "10.0.0.9", Journal(subject="g"), lambda _l: None, guest="web")
    assert info.value.message == (
        "CT 7 still has no SSH host keys (10.0.0.9:2222 (handshake)) after ssh-keygen -A and "
        "restarting ssh"
    )
    assert info.value.context == {"guest": "web", "vmid": 7, "step": "host-keys"}


@pytest.mark.parametrize(
    ("mode", "ip", "probed", "read"),
    [("handshake", "10.0.0.9", True, False), ("nodeShell", "10.0.0.9", False, True),
     ("both", "10.0.0.9", True, True), ("both", None, False, True)],
)  # fmt: skip
def test_observe_reads_by_mode(mode: str, ip: str | None, probed: bool, read: bool) -> None:
    shell, probe = Shell(), Probe(KEYS)
    assert keys_for(shell, probe).observe(7, ip, mode) == KEYS
    assert bool(probe.calls) is probed and bool(shell.calls) is read
    if probed:
        assert probe.calls == [("10.0.0.9", 2222, 5.0)]


def test_observe_in_both_mode_refuses_a_mismatch_and_survives_a_dead_sshd() -> None:
    with pytest.raises(HostKeyError):
        keys_for(Shell(), Probe({"ssh-ed25519": "ssh-ed25519 OTHER"})).observe(
            7, "10.0.0.9", "both"
        )
    assert keys_for(Shell(), Probe(KEYS, fail_first=9)).observe(7, "10.0.0.9", "both") == KEYS
    assert keys_for(None, Probe(KEYS, fail_first=9)).observe(7, "10.0.0.9", "handshake") == {}


# --- second pass: survivors of the first measurement ------------------------------------


def test_check_exec_of_a_result_without_stderr() -> None:
    class NoStderr:
        exit_code = 2

    with pytest.raises(GuestCommandError) as info:
        check_exec(NoStderr(), ("x",), 5)
    assert info.value.stderr == ""


def test_read_files_trusts_only_a_zero_exit_and_a_result_without_one() -> None:
    class Failing:
        def exec(self, vmid: int, argv: Any, stdin: Any = None, timeout: float = 0) -> Any:
            return Result(exit_code=1, stdout=PUB_TEXT)

    class NoExitCode:
        stdout = PUB_TEXT

        def exec(self, vmid: int, argv: Any, stdin: Any = None, timeout: float = 0) -> Any:
            return self

    assert keys_for(Failing(), None).read_files(7) == {}
    assert keys_for(NoExitCode(), None).read_files(7) == KEYS


def test_both_mode_without_readable_files_takes_the_offered_keys() -> None:
    shell = Shell(keys_after=1000)
    hk = keys_for(shell, Probe(KEYS))
    assert hk.observe(7, "10.0.0.9", "both") == KEYS
    assert {c[0] for c in shell.calls} == {7}


def test_both_mode_reads_this_guests_files_and_names_the_address() -> None:
    shell = Shell()
    hk = keys_for(shell, Probe({"ssh-ed25519": "ssh-ed25519 OTHER"}))
    with pytest.raises(HostKeyError) as info:
        hk.observe(7, "10.0.0.9", "both")
    assert "the SSH server at 10.0.0.9 offers" in info.value.message
    assert info.value.context == {"vmid": 7, "step": "host-keys"}
    assert {c[0] for c in shell.calls} == {7}
    shell2 = Shell()
    hk2 = keys_for(shell2, Probe({"ssh-ed25519": "ssh-ed25519 OTHER"}))
    with pytest.raises(HostKeyError):
        hk2.ensure(7, "10.0.0.9", Journal(subject="g"), lambda _l: None, guest="g", mode="both")
    assert {c[0] for c in shell2.calls} == {7}


def test_after_regeneration_the_same_guest_and_address_are_read_again() -> None:
    probe = Probe({})
    shell = Shell(keys_after=1000)

    def appear(vmid: int, argv: Any, stdin: Any = None, timeout: float = 600.0) -> Result:
        if argv[0] == "systemctl":
            probe.keys = dict(KEYS)
        return Shell.exec(shell, vmid, argv, stdin, timeout)

    shell.exec = appear  # type: ignore[method-assign]
    hk = keys_for(shell, probe)
    assert hk.ensure(7, "10.0.0.9", Journal(subject="g"), lambda _l: None, guest="g").public == KEYS
    assert {c[0] for c in probe.calls} == {"10.0.0.9"} and {c[0] for c in shell.calls} == {7}
