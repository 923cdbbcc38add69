"""Host-key helpers at their edges: error fields and texts, fingerprint form, and the probes'
defaults and per-algorithm handshakes with the network stubbed (mutation-testing gaps)."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import paramiko
import pytest
from paramiko.ssh_exception import IncompatiblePeer

from felhom_provider.errors import ConfigError, HostKeyError
from felhom_provider.guest import hostkeys
from felhom_provider.guest.hostkeys import (
    PROBE_ALGORITHMS,
    fingerprint_blob,
    line_fingerprint,
    parse_public_key,
    probe_host_keys,
    probe_public_keys,
    public_key_line,
)

from .sshserver import new_ed25519

ED = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM7Fe0o0O9N8R/nNQDAPB/O7su89qp9jJPzizsmWpo75"


def test_fingerprint_blob_is_unpadded_base64_of_sha256() -> None:
    for blob in (b"", b"a", b"ab", b"abc" * 50):
        digest = base64.b64encode(hashlib.sha256(blob).digest()).decode()
        assert fingerprint_blob(blob) == "SHA256:" + digest.rstrip("=")
        assert "=" not in fingerprint_blob(blob)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("ssh-ed25519", "expected an OpenSSH public key line: '<type> <base64> [comment]'"),
        ("", "expected an OpenSSH public key line: '<type> <base64> [comment]'"),
        ("ssh-dss AAAA", "unsupported host key type 'ssh-dss'"),
        # paramiko itself refuses a blob of another type than the line says.
        (ED.replace("ssh-ed25519", "ssh-rsa"), "key blob is ssh-ed25519, line says ssh-rsa"),
    ],
)
def test_parse_public_key_problems_name_the_field(line: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_public_key(line, field="guest.key")
    assert info.value.field == "guest.key"
    assert info.value.problem.startswith(problem)
    with pytest.raises(ConfigError) as default:
        parse_public_key(line)
    assert default.value.field == "nodeShell.hostKey"


def test_parse_public_key_unreadable_base64() -> None:
    with pytest.raises(ConfigError) as info:
        parse_public_key("ssh-ed25519 !!!notbase64")
    assert info.value.problem.startswith("unreadable ssh-ed25519 key: ")


def test_parse_public_key_accepts_surrounding_space_and_a_comment() -> None:
    key = parse_public_key(f"  {ED} root@host  \n")
    assert key.get_name() == "ssh-ed25519"
    assert public_key_line(key) == ED


def test_line_fingerprint() -> None:
    blob = base64.b64decode(ED.split()[1])
    assert line_fingerprint(ED + " comment") == fingerprint_blob(blob)
    long = "x" * 60
    with pytest.raises(ValueError) as info:
        line_fingerprint(long)
    assert str(info.value) == f"not a public key line: {long[:40]!r}"
    with pytest.raises(ValueError, match=r"^public key base64 does not decode: "):
        line_fingerprint("ssh-ed25519 !!!")


class Handshakes:
    """Stands in for ``handshake``: a server holding ``keys`` (by signature algorithm)."""

    def __init__(self, keys: dict[str, paramiko.PKey], fail: BaseException | None = None) -> None:
        self.keys, self.fail = keys, fail
        self.calls: list[tuple[str, int, float, list[str]]] = []
        self.closed = 0

    def __call__(self, host: str, port: int, timeout: float, algorithms: Any) -> Any:
        self.calls.append((host, port, timeout, list(algorithms)))
        if self.fail is not None:
            raise self.fail
        [algorithm] = algorithms
        if algorithm not in self.keys:
            raise IncompatiblePeer("no matching host key type")
        outer = self

        class Transport:
            def close(self) -> None:
                outer.closed += 1

        return Transport(), self.keys[algorithm]


@pytest.mark.parametrize("probe", [probe_host_keys, probe_public_keys])
def test_probes_default_to_port_22_ten_seconds_and_every_algorithm(
    probe: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = new_ed25519()
    fake = Handshakes({"ssh-ed25519": key})
    monkeypatch.setattr(hostkeys, "handshake", fake)
    found = probe("127.0.0.1")
    assert fake.calls == [("127.0.0.1", 22, 10.0, [a]) for a in PROBE_ALGORITHMS]
    assert fake.closed == 1
    want = hostkeys.fingerprint(key) if probe is probe_host_keys else public_key_line(key)
    assert found == {"ssh-ed25519": want}


@pytest.mark.parametrize("probe", [probe_host_keys, probe_public_keys])
@pytest.mark.parametrize(
    ("error", "text"),
    [(ConnectionRefusedError(111, "refused"), "[Errno 111] refused"),
     (EOFError("peer closed"), "peer closed"), (paramiko.SSHException("bad banner"), "bad banner")],
)  # fmt: skip
def test_probes_turn_a_broken_handshake_into_host_key_error(
    probe: Any, error: BaseException, text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hostkeys, "handshake", Handshakes({}, fail=error))
    with pytest.raises(HostKeyError) as info:
        probe("127.0.0.1", 2200, 3.0, algorithms=("ecdsa-sha2-nistp256",))
    err = info.value
    assert err.message == f"no SSH handshake with 127.0.0.1:2200 (ecdsa-sha2-nistp256): {text}"
    assert err.context == {"host": "127.0.0.1", "port": 2200}
    assert err.__cause__ is error
