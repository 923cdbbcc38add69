"""The shell contract at its edges: what ``quote_argv`` refuses, what ``ExecResult`` shows
and the error ``check`` raises, field by field; known_hosts host patterns (mutation-testing
gaps)."""

from __future__ import annotations

import pytest

from felhom_provider.errors import GuestCommandError
from felhom_provider.guest import ExecResult, quote_argv
from felhom_provider.guest.knownhosts import host_pattern, known_hosts_lines
from felhom_provider.secrets import Secret

SECRET = "tok-0123456789"


@pytest.mark.parametrize(
    ("argv", "problem"),
    [([], "empty argv"), (["echo", "a\x00b"], "an argument contains a NUL byte")],
)
def test_quote_argv_refusals(argv: list[str], problem: str) -> None:
    with pytest.raises(ValueError) as info:
        quote_argv(argv)
    assert str(info.value) == problem


def test_quote_argv_reveals_a_secret_argument() -> None:
    assert quote_argv(["login", Secret(SECRET)]) == f"login {SECRET}"


def test_exec_result_repr_shows_every_field_masked() -> None:
    result = ExecResult(
        ("login", SECRET), 3, f"out {SECRET}\n", f"err {SECRET}\n", secrets=(SECRET,)
    )
    assert repr(result) == (
        "ExecResult(argv=('login', '***'), exit_code=3, stdout='out ***\\n', stderr='err ***\\n')"
    )


def test_check_without_stderr_names_command_and_exit_code_only() -> None:
    with pytest.raises(GuestCommandError) as info:
        ExecResult(("false",), 1, "", "").check(vmid=101)
    err = info.value
    assert err.message == "false exited 1"
    assert (err.exit_code, err.stderr) == (1, "")
    assert err.context == {"exit_code": 1, "vmid": 101}


def test_check_carries_the_masked_stderr_tail() -> None:
    stderr = "x" * 3000 + f"\nstep one\nfatal: {SECRET} refused\n"
    result = ExecResult(("login", SECRET), 4, "", stderr, secrets=(SECRET,))
    with pytest.raises(GuestCommandError) as info:
        result.check(what="login to the registry")
    err = info.value
    assert err.message == "login to the registry exited 4: fatal: *** refused"
    tail = stderr.strip()[-2000:].replace(SECRET, "***")
    assert err.stderr == tail
    assert err.stderr.endswith("step one\nfatal: *** refused")


@pytest.mark.parametrize(
    ("port", "pattern"), [(22, "10.0.0.5"), (2222, "[10.0.0.5]:2222"), (23, "[10.0.0.5]:23")]
)
def test_host_pattern(port: int, pattern: str) -> None:
    assert host_pattern("10.0.0.5", port) == pattern


def test_known_hosts_lines_default_to_port_22() -> None:
    keys = {
        "ssh-ed25519": "ssh-ed25519 AAAAed c",
        "ecdsa-sha2-nistp256": "ecdsa-sha2-nistp256 AAAAec",
    }
    assert known_hosts_lines(keys, ["10.0.0.5", None, "web"]) == [
        "10.0.0.5 ecdsa-sha2-nistp256 AAAAec",
        "10.0.0.5 ssh-ed25519 AAAAed",
        "web ecdsa-sha2-nistp256 AAAAec",
        "web ssh-ed25519 AAAAed",
    ]
    assert known_hosts_lines(keys, ["web"], port=2222)[0] == "[web]:2222 ecdsa-sha2-nistp256 AAAAec"
