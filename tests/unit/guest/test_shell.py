"""Argv quoting, secret masking and ExecResult, without any network."""

from __future__ import annotations

import shlex

import pytest
from hypothesis import given
from hypothesis import strategies as st

from felhom_provider.errors import GuestCommandError
from felhom_provider.guest import ExecResult, NodeShell, display_argv, quote_argv
from felhom_provider.secrets import MASK, Secret, mask

ARG = st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=40)


@given(st.lists(ARG, min_size=1, max_size=8))
def test_quote_argv_round_trips_through_a_posix_shell_parser(argv):
    assert shlex.split(quote_argv(argv)) == argv


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["pct", "exec", "101", "--", "ssh-keygen", "-A"], "pct exec 101 -- ssh-keygen -A"),
        (["sh", "-c", "a && b"], "sh -c 'a && b'"),
        (["echo", "it's"], "echo 'it'\"'\"'s'"),
        (["echo", ""], "echo ''"),
        (["echo", "$HOME"], "echo '$HOME'"),
    ],
)
def test_quote_argv_examples(argv, line):
    assert quote_argv(argv) == line


@pytest.mark.parametrize("argv", [[], ["a\x00b"]])
def test_quote_argv_rejects(argv):
    with pytest.raises(ValueError):
        quote_argv(argv)


@pytest.mark.parametrize(
    ("text", "secrets", "expected"),
    [
        ("token=abcd1234 ok", ["abcd1234"], "token=*** ok"),
        ("abcd1234abcd1234", ["abcd1234"], "******"),
        ("pass longpassword and longpass", ["longpass", "longpassword"], "pass *** and ***"),
        ("short 1 stays", ["1"], "short 1 stays"),
        ("nothing", [], "nothing"),
        ("empty secret", [""], "empty secret"),
    ],
)
def test_mask(text, secrets, expected):
    assert mask(text, secrets) == expected


@given(ARG.filter(lambda s: len(s) >= 4), st.text(max_size=20), st.text(max_size=20))
def test_mask_never_leaks(secret, before, after):
    assert secret not in mask(before + secret + after, [secret]) or secret in MASK


def test_secret_argument_is_revealed_on_the_command_line_and_masked_when_shown():
    s = Secret("tok-123456")
    assert s.reveal() == "tok-123456" and s == Secret("tok-123456")
    for text in (repr(s), str(s), f"{s}"):
        assert "tok-123456" not in text and MASK in text
    assert quote_argv(["curl", "-H", s]) == "curl -H tok-123456"
    assert display_argv(["curl", "-H", s]) == f"curl -H {MASK}"


def test_mask_takes_secrets_and_plain_strings():
    assert mask("a tok-123456 b s3cr3t", [Secret("tok-123456"), "s3cr3t"]) == f"a {MASK} b {MASK}"


def test_exec_result_check_masks_secrets():
    result = ExecResult(
        ("cmd", "pw-0123456"), 1, "out pw-0123456", "bad pw-0123456\n", ("pw-0123456",)
    )
    with pytest.raises(GuestCommandError) as info:
        result.check(step="keys")
    err = info.value
    assert "pw-0123456" not in str(err) + err.stderr
    assert "pw-0123456" not in repr(result)
    assert err.exit_code == 1
    assert err.context["step"] == "keys"
    assert ExecResult(("true",), 0, "", "").check().ok


def test_exec_result_check_uses_label_and_last_stderr_line():
    result = ExecResult(("x",), 2, "", "warning\nfatal: broken\n")
    with pytest.raises(GuestCommandError, match=r"^install docker exited 2: fatal: broken"):
        result.check(what="install docker")


def test_node_shell_protocol_is_structural():
    class Fake:
        def exec(self, vmid, argv, stdin=None, timeout=600.0):
            return ExecResult(tuple(argv), 0, "", "")

    class Both(Fake):
        def run(self, argv, stdin=None, timeout=600.0):
            return ExecResult(tuple(argv), 0, "", "")

    assert isinstance(Both(), NodeShell) and not isinstance(Fake(), NodeShell)
