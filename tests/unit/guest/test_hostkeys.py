"""Host-key fingerprints and the handshake-only probe against a loopback SSH server."""

from __future__ import annotations

import base64
import hashlib
import socket
import threading

import pytest

from felhom_provider.errors import ConfigError, HostKeyError
from felhom_provider.guest import fingerprint, parse_public_key, probe_host_keys

from .sshserver import LoopbackSshServer, new_ed25519

# Public keys with fingerprints printed by `ssh-keygen -l -f` (OpenSSH), as test vectors.
KNOWN = [
    (
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM7Fe0o0O9N8R/nNQDAPB/O7su89qp9jJPzizsmWpo75 test",
        "SHA256:yXIMM8FBhqpCiOD/3+QfBorFdkpVBoKNmRrgYZOg0Nw",
    ),
    (
        "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBMwHFjGnuG7Nf7ZSB1"
        "qxBky7c46Pti/PmtlFLxCJSae8ywL70BQRe+7/hWRP7Ytbn6cRLy1EaVY9hqqChYiHRrY= t",
        "SHA256:hRnpVyR1HpzHPnCccQKBPHqio7eXDwVxbx5rE8fiWi8",
    ),
    (
        "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDHrrOorfFAJdSeEIXSRsItt0d54UDRv4Px/B8yWFdsKLf4YSgrs"
        "FVXJwmnVuW2sykWXEXJEwnCxDFex2IwXZUTdCJZENYWZGlxWeLFdlDjN3kOqwVgjF5HCtgWADuvuAgLDBsY1kVFi1o"
        "RqVMH0ZDbVXFKm5yekg2rNXDXYKiG1w== t",
        "SHA256:fGacKIvHq/QIUZXsB1vbeNHJBFXWptgXYyAQaIuGJtk",
    ),
]


@pytest.mark.parametrize(("line", "expected"), KNOWN)
def test_fingerprint_matches_ssh_keygen(line, expected):
    assert fingerprint(parse_public_key(line)) == expected


def _independent_fp(key) -> str:
    blob = base64.b64decode(key.get_base64())
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def test_probe_reads_every_offered_key(all_keys_server, node_ed25519, node_ecdsa, node_rsa):
    found = probe_host_keys("127.0.0.1", all_keys_server.port, timeout=5.0)
    assert found == {
        "ssh-ed25519": _independent_fp(node_ed25519),
        "ecdsa-sha2-nistp256": _independent_fp(node_ecdsa),
        "ssh-rsa": _independent_fp(node_rsa),
    }
    # One handshake per probed algorithm, and never a login.
    assert all_keys_server.connections == 5
    assert all_keys_server.auth_attempts == 0
    assert all_keys_server.commands == []


def test_probe_lists_only_what_is_offered(node_server, node_ed25519):
    found = probe_host_keys("127.0.0.1", node_server.port, timeout=5.0)
    assert found == {"ssh-ed25519": _independent_fp(node_ed25519)}


def test_probe_with_no_server_raises_host_key_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(HostKeyError, match="no SSH handshake"):
        probe_host_keys("127.0.0.1", port, timeout=2.0)


def test_probe_of_a_non_ssh_server_raises_host_key_error():
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        port = srv.getsockname()[1]

        def answer() -> None:
            conn, _ = srv.accept()
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
            conn.close()

        t = threading.Thread(target=answer, daemon=True)
        t.start()
        with pytest.raises(HostKeyError):
            probe_host_keys("127.0.0.1", port, timeout=2.0, algorithms=["ssh-ed25519"])
        t.join(timeout=5)


def test_probe_only_asked_algorithms(all_keys_server):
    found = probe_host_keys("127.0.0.1", all_keys_server.port, 5.0, algorithms=["ssh-ed25519"])
    assert list(found) == ["ssh-ed25519"]
    assert all_keys_server.connections == 1


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("", "expected an OpenSSH public key line"),
        ("ssh-ed25519", "expected an OpenSSH public key line"),
        ("ssh-ed25519 %%%", "unreadable"),
        ("ssh-dss AAAAB3NzaC1kc3M=", "unsupported"),
        (KNOWN[0][0].replace("ssh-ed25519 ", "ssh-rsa ", 1), "unreadable|key blob is"),
    ],
)
def test_parse_public_key_rejects(line, problem):
    with pytest.raises(ConfigError, match=problem):
        parse_public_key(line)


def test_fresh_key_round_trips():
    key = new_ed25519()
    assert parse_public_key(f"{key.get_name()} {key.get_base64()}").asbytes() == key.asbytes()


def test_server_fixture_is_loopback(node_server):
    assert isinstance(node_server, LoopbackSshServer)
