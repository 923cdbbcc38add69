"""SSH host keys: OpenSSH public-key lines, SHA256 fingerprints, and a handshake-only probe.

``probe_host_keys`` reads the host keys a server offers without logging in: one SSH key
exchange per host-key algorithm, each restricted to that single algorithm, so the server has
to sign the exchange with its key of that type (proving it holds the private key) or the
negotiation fails because it has none. Fingerprints are printed exactly as ``ssh-keygen -l``
does: ``SHA256:`` + base64 of the SHA-256 of the key blob, without ``=`` padding.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import socket
from collections.abc import Sequence

import paramiko
from paramiko.ssh_exception import IncompatiblePeer

from felhom_provider.errors import ConfigError, HostKeyError
from felhom_provider.guest.keyline import check_key_line

log = logging.getLogger(__name__)

#: Host-key algorithms probed, one handshake each. RSA keys are asked for with an RSA-SHA2
#: signature (OpenSSH ≥ 8.8 refuses plain ``ssh-rsa`` signatures); the key type is the same.
PROBE_ALGORITHMS: tuple[str, ...] = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "rsa-sha2-512",
)

# The signature algorithms a host key of each type can be negotiated with.
KEY_TYPE_ALGORITHMS: dict[str, tuple[str, ...]] = {
    "ssh-ed25519": ("ssh-ed25519",),
    "ecdsa-sha2-nistp256": ("ecdsa-sha2-nistp256",),
    "ecdsa-sha2-nistp384": ("ecdsa-sha2-nistp384",),
    "ecdsa-sha2-nistp521": ("ecdsa-sha2-nistp521",),
    "ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256"),
}


def fingerprint_blob(blob: bytes) -> str:
    """``SHA256:<base64, no padding>`` of a public-key blob, as ``ssh-keygen -l`` prints it."""
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii")
    return "SHA256:" + digest.rstrip("=")


def fingerprint(key: paramiko.PKey) -> str:
    """The ``ssh-keygen -l`` style fingerprint of a paramiko key."""
    return fingerprint_blob(key.asbytes())


def parse_public_key(line: str, *, field: str = "nodeShell.hostKey") -> paramiko.PKey:
    """An OpenSSH public-key line (``ssh-ed25519 AAAA… [comment]``) → a paramiko key.

    Raises ``ConfigError`` naming ``field`` when the line is malformed, the type is not one
    we can pin, or the blob's inner type disagrees with the declared one (``keyline``), or
    the SSH library cannot read the key itself.
    """
    checked = check_key_line(line, field=field)
    try:
        key = paramiko.PKey.from_type_string(checked.key_type, checked.blob)
    except (ValueError, paramiko.SSHException) as exc:
        raise ConfigError(field, f"unreadable {checked.key_type} key: {exc}") from None
    return key


def handshake(
    host: str, port: int, timeout: float, algorithms: Sequence[str]
) -> tuple[paramiko.Transport, paramiko.PKey]:
    """Connect and complete a key exchange that accepts only ``algorithms`` as host key.

    Returns the live transport (the caller closes it or authenticates on it) and the key the
    server proved. Raises ``IncompatiblePeer`` when the server has no key of those types,
    ``OSError`` when it cannot be reached, ``paramiko.SSHException`` for other failures.
    """
    sock = socket.create_connection((host, port), timeout=timeout)
    transport = paramiko.Transport(sock)
    try:
        transport.banner_timeout = timeout
        transport.handshake_timeout = timeout
        transport.get_security_options().key_types = tuple(algorithms)
        transport.start_client(timeout=timeout)
        key = transport.get_remote_server_key()
    except BaseException:
        transport.close()
        raise
    return transport, key


def probe_host_keys(
    host: str,
    port: int = 22,
    timeout: float = 10.0,
    algorithms: Sequence[str] = PROBE_ALGORITHMS,
) -> dict[str, str]:
    """``{key_type: "SHA256:…"}`` for every host key the server at ``host:port`` offers.

    No login is attempted. A server with no key of some type simply lacks that entry; an
    empty dict means it answered but offered none we probe for. Raises ``HostKeyError`` when
    nothing answers or the handshake breaks (not an SSH server, a dropped connection), so a
    caller waiting for a guest's sshd can tell "not up yet" from "up, these keys".
    """
    found: dict[str, str] = {}
    for key in _offered_keys(host, port, timeout, algorithms):
        found[key.get_name()] = fingerprint(key)
        log.debug("%s:%s offers %s %s", host, port, key.get_name(), found[key.get_name()])
    return found


def public_key_line(key: paramiko.PKey) -> str:
    """``<type> <base64>``: the key as ``/etc/ssh/ssh_host_*_key.pub`` holds it (no comment)."""
    return f"{key.get_name()} {key.get_base64()}"


def probe_public_keys(
    host: str,
    port: int = 22,
    timeout: float = 10.0,
    algorithms: Sequence[str] = PROBE_ALGORITHMS,
) -> dict[str, str]:
    """``{key_type: "<type> <base64>"}`` for every host key the server offers (no login).

    Like :func:`probe_host_keys` (same handshakes, same errors) but with the full public
    keys, so that ``known_hosts`` lines can be written from them.
    """
    return {
        key.get_name(): public_key_line(key)
        for key in _offered_keys(host, port, timeout, algorithms)
    }


def _offered_keys(
    host: str, port: int, timeout: float, algorithms: Sequence[str]
) -> list[paramiko.PKey]:
    """The host key the server proves for each algorithm it supports, one handshake each;
    ``HostKeyError`` when nothing answers or a handshake breaks."""
    keys: list[paramiko.PKey] = []
    for algorithm in algorithms:
        try:
            transport, key = handshake(host, port, timeout, [algorithm])
        except IncompatiblePeer:
            continue
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise HostKeyError(
                f"no SSH handshake with {host}:{port} ({algorithm}): "
                f"{str(exc) or type(exc).__name__}",
                host=host,
                port=port,
            ) from exc
        transport.close()
        keys.append(key)
    return keys


def line_fingerprint(line: str) -> str:
    """The ``SHA256:…`` fingerprint of a public-key line ``<type> <base64> [comment]``."""
    parts = line.split()
    if len(parts) < 2:
        raise ValueError(f"not a public key line: {line[:40]!r}")
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except binascii.Error as exc:
        raise ValueError(f"public key base64 does not decode: {exc}") from None
    return fingerprint_blob(blob)
