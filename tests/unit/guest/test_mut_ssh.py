"""``ParamikoNodeShell`` with the network stubbed: the exact handshake, login and keepalive,
when the connection is reused, how output is collected (every chunk, output that comes with
the exit status, bad UTF-8), the command deadline step by step, and every error's fields
(mutation-testing gaps)."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import paramiko
import pytest
from paramiko.ssh_exception import IncompatiblePeer

from felhom_provider.errors import AuthError, CommandTimeoutError, GuestCommandError, HostKeyError
from felhom_provider.guest import NodeShellSettings, ParamikoNodeShell
from felhom_provider.guest import ssh as ssh_module
from felhom_provider.guest.hostkeys import KEY_TYPE_ALGORITHMS, fingerprint
from felhom_provider.secrets import Secret

from .sshserver import new_ed25519, public_line

PASSPHRASE = "correct-horse-battery"
TOKEN = "tok-0123456789"


class FakeChannel:
    """One exec channel: ``out``/``err`` chunks ready now, ``late`` stdout chunks that arrive
    together with the exit status; ``finishes=False`` never reports a status."""

    def __init__(
        self,
        out: tuple[bytes, ...] = (),
        err: tuple[bytes, ...] = (),
        late: tuple[bytes, ...] = (),
        code: int = 0,
        finishes: bool = True,
    ) -> None:
        self.out, self.err, self.late = list(out), list(err), list(late)
        self.code, self.finishes = code, finishes
        self.command: str | None = None
        self.sent: list[bytes] = []
        self.write_shut = False
        self.closed = False

    def exec_command(self, command: str) -> None:
        self.command = command

    def sendall(self, data: bytes) -> None:
        assert isinstance(data, bytes), "paramiko's Channel.sendall takes bytes"
        self.sent.append(data)

    def shutdown_write(self) -> None:
        self.write_shut = True

    def recv_ready(self) -> bool:
        return bool(self.out)

    def recv(self, size: int) -> bytes:
        assert size == 65536
        return self.out.pop(0)

    def recv_stderr_ready(self) -> bool:
        return bool(self.err)

    def recv_stderr(self, size: int) -> bytes:
        assert size == 65536
        return self.err.pop(0)

    def exit_status_ready(self) -> bool:
        if not self.finishes:
            return False
        self.out += self.late
        self.late = []
        return True

    def recv_exit_status(self) -> int:
        return self.code

    def close(self) -> None:
        self.closed = True


class FakeTransport:
    """A connected transport: records login, keepalive and the sessions it opens."""

    def __init__(self, channels: list[FakeChannel], auth_error: Exception | None = None) -> None:
        self.channels = channels
        self.auth_error = auth_error
        self.active = True
        self.closed = False
        self.logins: list[tuple[str, Any]] = []
        self.keepalive: int | None = None
        self.session_timeouts: list[float | None] = []

    def is_active(self) -> bool:
        return self.active

    def auth_publickey(self, user: str, key: Any) -> None:
        self.logins.append((user, key))
        if self.auth_error is not None:
            raise self.auth_error

    def set_keepalive(self, interval: int) -> None:
        self.keepalive = interval

    def open_session(self, timeout: float | None = None) -> FakeChannel:
        self.session_timeouts.append(timeout)
        return self.channels.pop(0)

    def close(self) -> None:
        self.closed = True
        self.active = False


class Node:
    """Stands in for ``handshake``: each call hands out the next transport (or raises)."""

    def __init__(self, offered: paramiko.PKey) -> None:
        self.offered = offered
        self.transports: list[FakeTransport] = []
        self.calls: list[tuple[Any, ...]] = []
        self.fail: BaseException | None = None

    def __call__(self, host: str, port: int, timeout: float, algorithms: Any) -> Any:
        self.calls.append((host, port, timeout, algorithms))
        if self.fail is not None:
            raise self.fail
        return self.transports.pop(0), self.offered


class Clock:
    """Scripted monotonic times; ``select`` records its waits and does not sleep."""

    def __init__(self, *times: float) -> None:
        self.times = list(times)
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.times.pop(0)

    def select(self, r: Any, w: Any, x: Any, timeout: float) -> Any:
        self.waits.append(timeout)
        return r, w, x


NODE_KEY = new_ed25519()
CLIENT_KEY = new_ed25519()


@pytest.fixture
def node(monkeypatch: pytest.MonkeyPatch) -> Node:
    fake = Node(NODE_KEY)
    monkeypatch.setattr(ssh_module, "handshake", fake)
    # a fake channel has no socket to wait on; a test that counts the waits brings a Clock
    monkeypatch.setattr(ssh_module, "select", SimpleNamespace(select=lambda r, w, x, t: (r, w, x)))
    return fake


def _settings(**changes: Any) -> NodeShellSettings:
    base: dict[str, Any] = {
        "host": "10.0.0.2",
        "port": 2222,
        "user": "root",
        "host_key": public_line(NODE_KEY),
        "key_file": "/nonexistent/id_ed25519",
        "connect_timeout_s": 4.0,
        "command_timeout_s": 300.0,
    }
    base.update(changes)
    return NodeShellSettings(**base)


def _shell(clock: Clock | None = None, monkeypatch: Any = None, **changes: Any) -> Any:
    kwargs: dict[str, Any] = {"secrets": [TOKEN], "pkey": CLIENT_KEY}
    if clock is not None:
        kwargs["clock"] = clock
        monkeypatch.setattr(ssh_module, "select", SimpleNamespace(select=clock.select))
    return ParamikoNodeShell(_settings(**changes), **kwargs)


# --- connection ---------------------------------------------------------------------------


def test_connect_pins_the_key_type_logs_in_with_the_given_key_and_keeps_alive(node: Node) -> None:
    transport = FakeTransport([FakeChannel(out=(b"ok\n",))])
    node.transports.append(transport)
    result = _shell().run(["true"])
    assert result.stdout == "ok\n"
    assert node.calls == [("10.0.0.2", 2222, 4.0, KEY_TYPE_ALGORITHMS["ssh-ed25519"])]
    assert transport.logins == [("root", CLIENT_KEY)]  # the key file is never read
    assert transport.keepalive == 30
    assert transport.session_timeouts == [4.0]


def test_one_connection_is_reused_until_it_drops(node: Node) -> None:
    first = FakeTransport([FakeChannel(), FakeChannel()])
    second = FakeTransport([FakeChannel()])
    node.transports += [first, second]
    shell = _shell()
    shell.run(["a"])
    shell.run(["b"])
    assert len(node.calls) == 1
    first.active = False  # the node went away
    shell.run(["c"])
    assert len(node.calls) == 2
    assert second.logins == [("root", CLIENT_KEY)]


def test_a_node_without_the_pinned_key_type_is_refused(node: Node) -> None:
    node.fail = IncompatiblePeer("no matching host key type")
    with pytest.raises(HostKeyError) as info:
        _shell().run(["true"])
    assert info.value.context == {"host": "10.0.0.2"}
    assert info.value.message == (
        f"node root@10.0.0.2:2222 offers no ssh-ed25519 host key; pinned "
        f"{fingerprint(NODE_KEY)} — refusing an unknown key"
    )


def test_a_changed_node_key_is_refused_and_the_connection_closed(node: Node) -> None:
    other = new_ed25519()
    node.offered = other
    transport = FakeTransport([])
    node.transports.append(transport)
    with pytest.raises(HostKeyError) as info:
        _shell().run(["true"])
    assert info.value.context == {"host": "10.0.0.2"}
    assert info.value.message == (
        f"host key of node root@10.0.0.2:2222 changed: offered {fingerprint(other)}, "
        f"pinned {fingerprint(NODE_KEY)} — refusing"
    )
    assert transport.closed
    assert transport.logins == []


@pytest.mark.parametrize(
    ("error", "text"),
    [
        (ConnectionRefusedError(111, "Connection refused"), "[Errno 111] Connection refused"),
        (EOFError(), "EOFError"),  # no text: the type names it
        (paramiko.SSHException(), "SSHException"),
    ],
)
def test_an_unreachable_node_is_a_command_error(
    node: Node, error: BaseException, text: str
) -> None:
    node.fail = error
    with pytest.raises(GuestCommandError) as info:
        _shell().run(["true"])
    err = info.value
    assert type(err) is GuestCommandError
    assert err.message == f"cannot reach the node shell at root@10.0.0.2:2222: {text}"
    assert err.exit_code == -1
    assert err.context == {"exit_code": -1}
    assert err.__cause__ is error


def test_a_refused_login_closes_and_masks_the_secrets(node: Node) -> None:
    transport = FakeTransport([], auth_error=paramiko.SSHException(f"bad key {PASSPHRASE}"))
    node.transports.append(transport)
    with pytest.raises(AuthError) as info:
        _shell(key_passphrase=PASSPHRASE).run(["true"])
    assert info.value.message == (
        "node shell: public-key login as root refused by root@10.0.0.2:2222: bad key ***"
    )
    assert transport.closed


def test_an_unreadable_key_file_names_the_file_and_the_reason(tmp_path: Any) -> None:
    path = tmp_path / "missing"
    shell = ParamikoNodeShell(_settings(key_file=str(path)))
    with pytest.raises(AuthError) as info:
        shell._load_key()
    assert info.value.message.startswith(f"node shell key file {path} unusable: ")
    assert "No such file or directory" in info.value.message


# --- commands -----------------------------------------------------------------------------


def test_run_collects_every_chunk_and_the_output_that_comes_with_the_status(node: Node) -> None:
    channel = FakeChannel(
        out=(b"one\n", b"two\n"), err=(b"warn 1\n", b"warn 2\n"), late=(b"three\n",), code=3
    )
    node.transports.append(FakeTransport([channel]))
    result = _shell().run(["report", "--all"], stdin="input\n")
    assert (result.exit_code, result.stdout, result.stderr) == (
        3,
        "one\ntwo\nthree\n",
        "warn 1\nwarn 2\n",
    )
    assert channel.command == "report --all"
    assert channel.sent == [b"input\n"]
    assert channel.write_shut and channel.closed


def test_run_replaces_bad_utf8_and_reveals_secret_arguments(node: Node) -> None:
    channel = FakeChannel(out=(b"caf\xe9\n",), err=(b"\xff\n",))
    node.transports.append(FakeTransport([channel]))
    result = _shell().run(["login", Secret(TOKEN)], stdin=b"\x00raw")
    assert (result.stdout, result.stderr) == ("caf\ufffd\n", "\ufffd\n")
    assert result.argv == ("login", TOKEN)
    assert channel.command == f"login {TOKEN}"
    assert channel.sent == [b"\x00raw"]
    assert TOKEN not in repr(result)


def test_exec_wraps_the_argv_in_pct_exec(node: Node) -> None:
    channel = FakeChannel()
    node.transports.append(FakeTransport([channel]))
    assert _shell().exec(101, ["ssh-keygen", "-A"]).argv == (
        "pct",
        "exec",
        "101",
        "--",
        "ssh-keygen",
        "-A",
    )
    assert channel.command == "pct exec 101 -- ssh-keygen -A"
    assert channel.sent == []


@pytest.fixture
def hanging(node: Node) -> Iterator[FakeChannel]:
    stderr = b"x" * 2500 + f"\nstill waiting for {TOKEN}\n".encode() + b"\xff"
    channel = FakeChannel(err=(stderr,), finishes=False)
    node.transports.append(FakeTransport([channel]))
    yield channel
    assert channel.closed


def test_the_deadline_is_checked_after_each_wait(
    hanging: FakeChannel, monkeypatch: pytest.MonkeyPatch
) -> None:
    # timeout 1 s: at 0.5 s a full wake-up wait, at 0.98 s the rest, at 1.0 s it is over
    clock = Clock(0.0, 0.5, 0.98, 1.0)
    shell = _shell(clock, monkeypatch)
    with pytest.raises(CommandTimeoutError) as info:
        shell.run(["hang", TOKEN], timeout=1.0)  # a secret of the shell, not a Secret
    assert clock.waits == [0.05, pytest.approx(0.02)]
    assert clock.times == []
    err = info.value
    assert err.message == "hang *** did not finish within 1s"
    assert (err.timeout_s, err.exit_code) == (1.0, -1)
    assert err.context == {"exit_code": -1, "timeout_s": 1.0}
    # the tail of stderr, decoded leniently, stripped and masked
    text = ("x" * 2500 + f"\nstill waiting for {TOKEN}\n\ufffd").strip()[-2000:]
    assert err.stderr == text.replace(TOKEN, "***")
    assert len(err.stderr) == 2000 - len(TOKEN) + 3


@pytest.mark.parametrize(
    ("call", "limit"),
    [
        (lambda sh: sh.exec(101, ["hang"], timeout=5.0), 5.0),
        (lambda sh: sh.exec(101, ["hang"]), 300.0),  # the settings' command timeout
        (lambda sh: sh.run(["hang"]), 300.0),
    ],
)
def test_exec_and_run_wait_for_their_timeout(
    hanging: FakeChannel, monkeypatch: pytest.MonkeyPatch, call: Any, limit: float
) -> None:
    clock = Clock(0.0, limit)
    with pytest.raises(CommandTimeoutError) as info:
        call(_shell(clock, monkeypatch))
    assert info.value.timeout_s == limit
    assert info.value.message.endswith(f" did not finish within {limit:g}s")
    assert clock.waits == []
