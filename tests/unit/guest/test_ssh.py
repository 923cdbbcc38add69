"""ParamikoNodeShell against a loopback SSH server: pinning, login, exec, output, timeouts."""

from __future__ import annotations

import json
import shlex
from dataclasses import replace

import pytest

from felhom_provider.errors import (
    AuthError,
    CommandTimeoutError,
    ConfigError,
    GuestCommandError,
    HostKeyError,
)
from felhom_provider.guest import NodeShellSettings, ParamikoNodeShell
from felhom_provider.secrets import Secret

from .sshserver import new_ed25519, public_line, write_private_key


@pytest.fixture
def key_file(tmp_path, client_key) -> str:
    path = tmp_path / "id_ed25519"
    write_private_key(client_key, str(path))
    return str(path)


@pytest.fixture
def settings(node_server, node_ed25519, key_file) -> NodeShellSettings:
    return NodeShellSettings(
        host="127.0.0.1",
        port=node_server.port,
        host_key=public_line(node_ed25519),
        key_file=key_file,
        connect_timeout_s=5.0,
    )


@pytest.fixture
def shell(settings):
    with ParamikoNodeShell(settings) as sh:
        yield sh


def test_pinned_key_accepted_and_exit_code_stdout_passed_back(shell, node_server):
    result = shell.run(["argv", "hello"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == ["hello"]
    assert result.stderr == ""
    assert node_server.commands == ["argv hello"]


def test_exec_runs_pct_exec_with_argv_intact(shell, node_server):
    tricky = ["a b", "it's", "$HOME", "; rm -rf /", "*", "", "new\nline", "ünï"]
    result = shell.exec(101, ["argv", *tricky])
    assert result.ok
    assert json.loads(result.stdout) == tricky
    assert shlex.split(node_server.commands[-1]) == ["pct", "exec", "101", "--", "argv", *tricky]
    assert result.argv[:4] == ("pct", "exec", "101", "--")


def test_nonzero_exit_and_stderr_are_returned_not_raised(shell):
    result = shell.exec(101, ["fail", "3", "disk", "full"])
    assert (result.exit_code, result.stdout, result.stderr) == (3, "", "error: disk full\n")
    with pytest.raises(GuestCommandError) as info:
        result.check(vmid=101)
    assert info.value.exit_code == 3
    assert "exited 3: error: disk full" in str(info.value)


def test_pct_exec_on_stopped_guest_fails_like_pve(shell):
    result = shell.exec(999, ["argv"])
    assert result.exit_code == 255
    assert "not running" in result.stderr


def test_stdin_is_delivered(shell):
    assert shell.exec(101, ["cat"], stdin="line one\nline two\n").stdout == "line one\nline two\n"
    assert shell.run(["cat"], stdin=b"\x00\x01bytes").stdout == "\x00\x01bytes"


def test_timeout_raises_command_timeout(shell):
    with pytest.raises(CommandTimeoutError) as info:
        shell.run(["hang"], timeout=0.2)
    assert info.value.exit_code == -1
    assert "did not finish" in str(info.value)
    assert shell.run(["argv", "after"]).ok  # the connection survives a timed-out channel


def test_secrets_masked_in_errors(settings):
    password = "hunter2-very-secret"
    with ParamikoNodeShell(settings, secrets=[password]) as sh:
        result = sh.run(["fail", "2", password, Secret("tok-abcdef123")])
        assert result.stderr == f"error: {password} tok-abcdef123\n"  # raw output kept
        with pytest.raises(GuestCommandError) as info:
            result.check()
    text = str(info.value) + info.value.stderr
    assert password not in text
    assert "tok-abcdef123" not in text
    assert "***" in text


def test_changed_host_key_refused_before_login(settings, node_server):
    other = public_line(new_ed25519())
    with (
        ParamikoNodeShell(_replace(settings, host_key=other)) as sh,
        pytest.raises(HostKeyError, match="changed"),
    ):
        sh.run(["argv"])
    assert node_server.auth_attempts == 0
    assert node_server.commands == []


def test_unknown_key_type_refused(settings, node_server, node_rsa):
    # The node offers only Ed25519; a pinned RSA key must not fall back to another type.
    with (
        ParamikoNodeShell(_replace(settings, host_key=public_line(node_rsa))) as sh,
        pytest.raises(HostKeyError, match="offers no ssh-rsa"),
    ):
        sh.run(["argv"])
    assert node_server.auth_attempts == 0


def test_wrong_client_key_refused(settings, tmp_path):
    path = tmp_path / "other"
    write_private_key(new_ed25519(), str(path))
    with ParamikoNodeShell(_replace(settings, key_file=str(path))) as sh, pytest.raises(AuthError):
        sh.run(["argv"])


def test_encrypted_key_file_with_passphrase(settings, client_key, tmp_path):
    path = tmp_path / "id_enc"
    write_private_key(client_key, str(path), passphrase="correct horse")
    ok = _replace(settings, key_file=str(path), key_passphrase="correct horse")
    with ParamikoNodeShell(ok) as sh:
        assert sh.run(["argv"]).ok
    bad = _replace(settings, key_file=str(path), key_passphrase="wrong battery")
    with ParamikoNodeShell(bad) as sh, pytest.raises(AuthError) as info:
        sh.run(["argv"])
    assert "wrong battery" not in str(info.value)


def test_reconnects_after_close(shell, node_server):
    assert shell.run(["argv"]).ok
    shell.close()
    assert shell.run(["argv"]).ok
    assert node_server.connections == 2


def test_unreachable_node(settings, node_server):
    node_server.close()
    with ParamikoNodeShell(settings) as sh, pytest.raises(GuestCommandError, match="cannot reach"):
        sh.run(["argv"])


def test_bad_pinned_line_is_a_config_error(settings):
    with pytest.raises(ConfigError, match=r"nodeShell\.hostKey"):
        ParamikoNodeShell(_replace(settings, host_key="ssh-ed25519 not-base64!"))
    with pytest.raises(ConfigError, match="unsupported"):
        ParamikoNodeShell(_replace(settings, host_key="ssh-dss AAAA"))


def test_settings_repr_hides_passphrase(settings):
    assert "s3cret-pass" not in repr(_replace(settings, key_passphrase="s3cret-pass"))


def _replace(settings: NodeShellSettings, **changes: object) -> NodeShellSettings:
    return replace(settings, **changes)  # type: ignore[arg-type]
