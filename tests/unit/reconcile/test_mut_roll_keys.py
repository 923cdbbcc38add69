"""``reconcile.roll_keys`` with a scripted ``pct exec``: the exact commands, their stdin and
timeouts, which key files count as read, the errors of a failed write or ``ssh`` restart, and
the Docker smoke test's verdict (mutation-testing gaps)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from felhom_provider.errors import GuestCommandError
from felhom_provider.guest.shell import Arg, ExecResult
from felhom_provider.reconcile.roll_keys import (
    HELLO,
    KEY_FILES,
    docker_problem,
    read_host_keys,
    write_host_keys,
)

VMID = 101
ED = "/etc/ssh/ssh_host_ed25519_key"


@dataclass
class Shell:
    """``pct exec`` stand-in: ``answers`` maps argv[0] (or the whole argv) to a result."""

    answers: dict[tuple[str, ...], tuple[int, str, str]] = field(default_factory=dict)
    calls: list[tuple[int, list[str], object, float]] = field(default_factory=list)

    def exec(
        self,
        vmid: int,
        argv: Sequence[Arg],
        stdin: bytes | str | None = None,
        timeout: float = 600.0,
    ) -> ExecResult:
        args = [str(a) for a in argv]
        self.calls.append((vmid, args, stdin, timeout))
        code, out, err = self.answers.get(tuple(args), self.answers.get((args[0],), (0, "", "")))
        return ExecResult(tuple(args), code, out, err)

    def run(
        self, argv: Sequence[Arg], stdin: bytes | str | None = None, timeout: float = 600.0
    ) -> ExecResult:
        raise AssertionError("roll_keys never runs commands on the node")


def cat(path: str) -> tuple[str, ...]:
    return ("cat", path)


def test_every_key_file_is_read_with_cat_and_a_60s_timeout() -> None:
    shell = Shell({cat(p): (0, f"content of {p}\n", "") for p, _ in KEY_FILES})
    keys = read_host_keys(shell, VMID)
    assert keys == {p: f"content of {p}\n" for p, _ in KEY_FILES}
    assert shell.calls == [(VMID, ["cat", p], None, 60) for p, _ in KEY_FILES]


@pytest.mark.parametrize(
    ("answer", "kept"),
    [
        ((0, "key\n", ""), True),
        ((1, "key\n", "cat: Permission denied"), False),  # output of a failed cat is no key
        ((0, "", ""), False),  # an empty file is no key
        ((-1, "partial", ""), False),  # the remote side closed without a status
    ],
)
def test_a_key_file_counts_only_when_cat_succeeds_with_content(
    answer: tuple[int, str, str], kept: bool
) -> None:
    shell = Shell({cat(ED): (0, "private\n", ""), cat(f"{ED}.pub"): answer})
    keys = read_host_keys(shell, VMID)
    assert (f"{ED}.pub" in keys) is kept
    assert keys[ED] == "private\n"


@pytest.mark.parametrize(
    "found",
    [
        {},
        {f"{ED}.pub": (0, "ssh-ed25519 AAAA\n", "")},  # public halves alone do not do
    ],
)
def test_no_private_key_is_an_error_naming_the_ct(found: dict[str, tuple[int, str, str]]) -> None:
    shell = Shell({("cat",): (1, "", "No such file"), **{cat(p): a for p, a in found.items()}})
    with pytest.raises(GuestCommandError) as err:
        read_host_keys(shell, VMID)
    assert err.value.message == f"CT {VMID} has no readable SSH host key under /etc/ssh"
    assert err.value.context == {"exit_code": 1, "vmid": VMID}


def test_write_installs_each_file_with_its_mode_from_stdin_then_restarts_ssh() -> None:
    shell = Shell()
    keys = {f"{ED}.pub": "pub\n", ED: "priv\n", "/etc/ssh/ssh_host_extra_key": "x\n"}
    write_host_keys(shell, VMID, keys)
    assert shell.calls == [
        (VMID, ["install", "-m", "600", "/dev/stdin", ED], "priv\n", 60),
        (VMID, ["install", "-m", "644", "/dev/stdin", f"{ED}.pub"], "pub\n", 60),
        # an unknown file gets the private mode: never readable by others
        (VMID, ["install", "-m", "600", "/dev/stdin", "/etc/ssh/ssh_host_extra_key"], "x\n", 60),
        (VMID, ["systemctl", "restart", "ssh"], None, 120),
    ]


@pytest.mark.parametrize(
    ("failing", "command", "calls"),
    [
        (("install",), f"install -m 600 /dev/stdin {ED}", 1),
        (("systemctl",), "systemctl restart ssh", 2),
    ],
)
def test_a_failed_write_or_restart_raises_with_the_command_and_ct(
    failing: tuple[str, ...], command: str, calls: int
) -> None:
    shell = Shell({failing: (5, "", "boom")})
    with pytest.raises(GuestCommandError) as err:
        write_host_keys(shell, VMID, {ED: "priv\n"})
    assert err.value.message == f"`{command}` in CT {VMID} exited 5"
    assert err.value.context == {"exit_code": 5, "vmid": VMID} and err.value.stderr == "boom"
    assert len(shell.calls) == calls  # nothing runs after the failure


def test_docker_runs_hello_world_with_a_300s_timeout() -> None:
    shell = Shell({HELLO: (0, "\nHello from Docker!\nThis message shows ...\n", "")})
    assert docker_problem(shell, VMID) is None
    assert shell.calls == [(VMID, ["docker", "run", "--rm", "hello-world"], None, 300)]


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ((0, "no greeting\n", ""), "exited 0: no greeting"),  # exit 0 is not enough
        ((125, "Hello from Docker!", "  daemon down\n"), "exited 125: daemon down"),
        ((1, "  only stdout\n", ""), "exited 1: only stdout"),  # no stderr: stdout's tail
        ((1, "", "e" * 400 + "END"), "exited 1: " + "e" * 297 + "END"),  # last 300 chars
    ],
)
def test_docker_problem_names_the_exit_code_and_the_output_tail(
    answer: tuple[int, str, str], problem: str
) -> None:
    got = docker_problem(Shell({HELLO: answer}), VMID)
    assert got == f"`docker run --rm hello-world` {problem}"
