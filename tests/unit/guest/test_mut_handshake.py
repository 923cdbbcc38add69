"""The host-key handshake's bounds and the strictness of a pinned key line, with the network
stubbed: every wait of the handshake is the caller's timeout (mutation-testing gaps)."""

from __future__ import annotations

import socket
from typing import Any

import paramiko
import pytest

from felhom_provider.errors import ConfigError, HostKeyError
from felhom_provider.guest import hostkeys
from felhom_provider.guest.hostkeys import handshake, parse_public_key, probe_host_keys

ED = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM7Fe0o0O9N8R/nNQDAPB/O7su89qp9jJPzizsmWpo75"


class _Options:
    key_types: tuple[str, ...] = ()


class FakeTransport:
    """Records what ``handshake`` sets and calls; ``fail`` is raised by ``start_client``."""

    made: list[FakeTransport] = []
    fail: BaseException | None = None

    def __init__(self, sock: object) -> None:
        self.sock = sock
        self.options = _Options()
        self.banner_timeout: float | None = None
        self.handshake_timeout: float | None = None
        self.start_timeout: float | None = None
        self.closed = False
        FakeTransport.made.append(self)

    def get_security_options(self) -> _Options:
        return self.options

    def start_client(self, timeout: float | None = None) -> None:
        self.start_timeout = timeout
        if FakeTransport.fail is not None:
            raise FakeTransport.fail

    def get_remote_server_key(self) -> str:
        return "the server's key"

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def network(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    connects: list[tuple[Any, ...]] = []

    def create_connection(address: tuple[str, int], timeout: float | None = None) -> str:
        connects.append((address, timeout))
        return "socket"

    # the module's own names for them: ``hostkeys`` imports the modules, not their members
    monkeypatch.setattr(socket, "create_connection", create_connection)
    monkeypatch.setattr(paramiko, "Transport", FakeTransport)
    monkeypatch.setattr(FakeTransport, "made", [])
    monkeypatch.setattr(FakeTransport, "fail", None)
    return connects


def test_every_wait_of_the_handshake_is_the_timeout(network: list[tuple[Any, ...]]) -> None:
    transport, key = handshake("10.0.0.5", 2222, 7.5, ["ssh-ed25519"])  # type: Any, Any
    assert network == [(("10.0.0.5", 2222), 7.5)]
    [made] = FakeTransport.made
    assert transport is made and made.sock == "socket"
    assert (made.banner_timeout, made.handshake_timeout, made.start_timeout) == (7.5, 7.5, 7.5)
    assert made.options.key_types == ("ssh-ed25519",)
    assert key == "the server's key"
    assert not made.closed  # the caller authenticates on it or closes it


def test_a_failed_handshake_closes_its_transport(network: list[tuple[Any, ...]]) -> None:
    FakeTransport.fail = paramiko.SSHException("Error reading SSH protocol banner")
    with pytest.raises(paramiko.SSHException):
        handshake("10.0.0.5", 22, 3.0, ["ssh-ed25519"])
    assert FakeTransport.made[0].closed


@pytest.mark.parametrize("error", [EOFError(), paramiko.SSHException(), OSError()])
def test_an_error_without_text_is_named_by_its_type(
    error: BaseException, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: Any) -> Any:
        raise error

    monkeypatch.setattr(hostkeys, "handshake", broken)
    with pytest.raises(HostKeyError) as info:
        probe_host_keys("10.0.0.5", 22, 1.0, algorithms=("ssh-ed25519",))
    assert info.value.message == (
        f"no SSH handshake with 10.0.0.5:22 (ssh-ed25519): {type(error).__name__}"
    )


def test_a_pinned_key_with_characters_outside_base64_is_refused() -> None:
    b64 = ED.split()[1]
    # Lenient decoding would drop the '*' and accept the key as if it were intact.
    with pytest.raises(ConfigError) as info:
        parse_public_key(f"ssh-ed25519 {b64[:20]}*{b64[20:]}")
    assert info.value.problem.startswith("unreadable ssh-ed25519 key: ")
    assert parse_public_key(ED).get_base64() == b64
