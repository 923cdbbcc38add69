"""SSH keys in the guest's authorized_keys: when the file is written, the exact ``pct exec``
commands (argv, stdin, timeout), their journal entries and the errors a failed write or
read-back raises (mutation-testing gaps)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from felhom_provider.errors import GuestCommandError, VerificationError
from felhom_provider.guest.shell import Arg, ExecResult
from felhom_provider.reconcile.access import (
    AUTHORIZED_KEYS,
    HEADER,
    READ,
    WRITE,
    needs_write,
    read_keys,
    render,
    sync_keys,
)
from felhom_provider.reconcile.journal import Journal, JournalStatus

VMID = 123
KEYS = ("ssh-ed25519 AAAAop operator", "ssh-ed25519 AAAAcu customer")


@dataclass
class KeysShell:
    """A guest with one file, ``authorized_keys``; records every call with stdin and timeout.

    ``fail`` maps an argv[0] + argv[1] prefix to an exit code for the write commands;
    ``mangle`` changes what the install writes (a disk that loses the last line).
    """

    content: str | None = None
    fail: dict[tuple[str, str], int] = field(default_factory=dict)
    mangle: bool = False
    calls: list[tuple[int, list[str], bytes | str | None, float]] = field(default_factory=list)

    def exec(
        self,
        vmid: int,
        argv: Sequence[Arg],
        stdin: bytes | str | None = None,
        timeout: float = 600.0,
    ) -> ExecResult:
        args = [str(a) for a in argv]
        self.calls.append((vmid, args, stdin, timeout))
        code = self.fail.get((args[0], args[1]), 0)
        if code:
            return ExecResult(tuple(args), code, "", "install: Read-only file system\n")
        if vmid != VMID:
            return ExecResult(tuple(args), 1, "", "no such guest\n")
        if args == list(READ):
            if self.content is None:
                return ExecResult(tuple(args), 1, "", "cat: No such file or directory\n")
            return ExecResult(tuple(args), 0, self.content, "")
        if "/dev/stdin" in args:
            text = str(stdin)
            self.content = text[: text.rindex("\n", 0, -1) + 1] if self.mangle else text
        return ExecResult(tuple(args), 0, "", "")

    def run(
        self,
        argv: Sequence[Arg],
        stdin: bytes | str | None = None,
        timeout: float = 600.0,
    ) -> ExecResult:
        raise AssertionError("the keys are written in the guest, never on the node")


def _sync(shell: KeysShell | None, keys: Sequence[str], journal: Journal) -> bool:
    said: list[str] = []
    return sync_keys(shell, VMID, keys, journal, said.append, guest="acme-web")


# --- when to write --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "keys", "write"),
    [
        (None, [], False),  # no file, no keys: nothing to manage
        ("", [], False),  # a file we did not write, no keys asked: left alone
        ("ssh-ed25519 AAAAhand made\n", [], False),
        (render([]), [], False),  # our file, already empty
        (render(["ssh-ed25519 AAAAold"]), [], True),  # our file: the removed key goes
        (None, ["k1"], True),
        ("ssh-ed25519 AAAAhand made\n", ["k1"], True),  # keys asked: the file becomes ours
        (render(["k1"]), ["k1"], False),
        (render(["k1", "k2"]), ["k2", "k1"], True),  # the order is part of the content
    ],
)
def test_needs_write(current: str | None, keys: list[str], write: bool) -> None:
    assert needs_write(current, keys) is write


# --- without a node shell ---------------------------------------------------------------


def test_without_a_node_shell_no_keys_is_nothing_to_do() -> None:
    journal = Journal("acme-web")
    assert _sync(None, [], journal) is False
    assert journal.entries == []


def test_without_a_node_shell_keys_are_refused() -> None:
    with pytest.raises(VerificationError) as info:
        _sync(None, KEYS, Journal("acme-web"))
    assert info.value.message == "SSH keys need felhom:nodeShell (they are written with pct exec)"
    assert info.value.context == {"guest": "acme-web", "vmid": VMID, "step": "authorized-keys"}


@pytest.mark.parametrize(
    ("content", "read"), [(None, None), ("", ""), (render(KEYS), render(KEYS))]
)
def test_read_keys_is_none_only_without_a_file(content: str | None, read: str | None) -> None:
    shell = KeysShell(content=content)
    assert read_keys(shell, VMID) == read
    assert shell.calls == [(VMID, list(READ), None, 60)]


# --- the write ----------------------------------------------------------------------------


def test_write_runs_the_install_commands_then_reads_back() -> None:
    shell = KeysShell(content="ssh-ed25519 AAAAhand made\n")
    journal = Journal("acme-web")
    assert _sync(shell, KEYS, journal) is True
    content = render(KEYS)
    assert content == "\n".join((HEADER, *KEYS)) + "\n"
    assert shell.content == content
    assert shell.calls == [
        (VMID, list(READ), None, 60),
        (VMID, list(WRITE[0]), None, 600.0),  # the directory gets no stdin
        (VMID, list(WRITE[1]), content, 600.0),
        (VMID, list(READ), None, 60),
    ]
    assert WRITE[1][-1] == AUTHORIZED_KEYS
    assert [(e.step, e.action, e.status) for e in journal.entries] == [
        ("authorized-keys", {"vmid": VMID, "argv": list(WRITE[0])}, JournalStatus.DONE),
        ("authorized-keys", {"vmid": VMID, "argv": list(WRITE[1])}, JournalStatus.DONE),
    ]
    assert all(e.undo is None for e in journal.entries)


def test_an_up_to_date_file_is_only_read() -> None:
    shell = KeysShell(content=render(KEYS))
    journal = Journal("acme-web")
    assert _sync(shell, KEYS, journal) is False
    assert shell.calls == [(VMID, list(READ), None, 60)]
    assert journal.entries == []


@pytest.mark.parametrize("failing", [WRITE[0], WRITE[1]])
def test_a_failed_install_raises_with_the_guest_and_stops(failing: tuple[str, ...]) -> None:
    shell = KeysShell(fail={(failing[0], failing[1]): 1})
    journal = Journal("acme-web")
    with pytest.raises(GuestCommandError) as info:
        _sync(shell, KEYS, journal)
    assert info.value.exit_code == 1
    assert info.value.context == {"exit_code": 1, "vmid": VMID}
    assert f"`{' '.join(failing)}` in CT {VMID} exited 1" in str(info.value)
    assert info.value.stderr == "install: Read-only file system\n"
    # the failed step stays begun, not done; nothing runs after it
    assert journal.entries[-1].action["argv"] == list(failing)
    assert journal.entries[-1].status is JournalStatus.PENDING
    assert shell.calls[-1][1] == list(failing)


def test_a_file_that_does_not_read_back_as_written_is_an_error() -> None:
    shell = KeysShell(mangle=True)
    with pytest.raises(VerificationError) as info:
        _sync(shell, KEYS, Journal("acme-web"))
    assert info.value.context == {"guest": "acme-web", "vmid": VMID, "step": "authorized-keys"}
    assert f"CT {VMID}: {AUTHORIZED_KEYS} does not read back as written" in str(info.value)


def test_only_the_named_guest_is_read_and_written() -> None:
    shell = KeysShell(content=render(KEYS))
    _sync(shell, KEYS, Journal("acme-web"))
    assert {vmid for vmid, *_ in shell.calls} == {VMID}
