"""``ParamikoNodeShell``: commands on the PVE node over SSH as root, and ``pct exec`` into guests.

PVE 9 has no API endpoint that runs a command in a CT (design §4.14), so guest
commands go through the node: ``pct exec <vmid> -- <argv>`` (pve-container ``pct.pm``
``exec``, which ``exec``s ``lxc-attach`` and so passes the command's exit code through).

The node's host key is pinned from settings: the key exchange is restricted to the pinned
key's type and the offered key must equal it byte for byte. An unknown or changed key is
refused with ``HostKeyError``; there is no auto-add and no known_hosts file involved.
"""

from __future__ import annotations

import logging
import select
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import paramiko
from paramiko.ssh_exception import IncompatiblePeer

from felhom_provider.errors import AuthError, CommandTimeoutError, GuestCommandError, HostKeyError
from felhom_provider.guest.hostkeys import (
    KEY_TYPE_ALGORITHMS,
    fingerprint,
    handshake,
    parse_public_key,
)
from felhom_provider.guest.shell import Arg, ExecResult, display_argv, quote_argv, secrets_in
from felhom_provider.secrets import Secret, mask, reveal

log = logging.getLogger(__name__)

_CHUNK = 65536
_WAKE_S = 0.05  # stderr data does not wake select() on a paramiko channel; re-check this often


@dataclass(frozen=True)
class NodeShellSettings:
    """How to reach the node shell. ``host_key`` is the node's OpenSSH public-key line
    (``ssh-ed25519 AAAA…``, e.g. from ``/etc/ssh/ssh_host_ed25519_key.pub``)."""

    host: str
    host_key: str
    key_file: str
    port: int = 22
    user: str = "root"
    key_passphrase: str | None = field(default=None, repr=False)
    connect_timeout_s: float = 10.0
    command_timeout_s: float = 600.0


class ParamikoNodeShell:
    """Runs argv on the PVE node (``run``) or in a CT (``exec``) over one pinned SSH connection.

    One transport is shared by all calls (each command gets its own channel) and reopened if
    it dropped. ``secrets`` are masked in logs and errors, as are ``Secret`` arguments.
    """

    def __init__(
        self,
        settings: NodeShellSettings,
        *,
        secrets: Iterable[str | Secret] = (),
        pkey: paramiko.PKey | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._pinned = parse_public_key(settings.host_key)
        self._pkey = pkey
        self._secrets = [reveal(s) for s in secrets if s]
        if settings.key_passphrase:
            self._secrets.append(settings.key_passphrase)
        self._clock = clock
        self._lock = threading.Lock()
        self._transport: paramiko.Transport | None = None

    def __enter__(self) -> ParamikoNodeShell:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the SSH connection (a later call reconnects)."""
        with self._lock:
            if self._transport is not None:
                self._transport.close()
                self._transport = None

    # --- connection ---------------------------------------------------------------------------

    def _where(self) -> str:
        return f"{self.settings.user}@{self.settings.host}:{self.settings.port}"

    def _connected(self) -> paramiko.Transport:
        with self._lock:
            if self._transport is None or not self._transport.is_active():
                self._transport = self._connect()
            return self._transport

    def _connect(self) -> paramiko.Transport:
        s = self.settings
        pinned_type = self._pinned.get_name()
        try:
            transport, offered = handshake(
                s.host, s.port, s.connect_timeout_s, KEY_TYPE_ALGORITHMS[pinned_type]
            )
        except IncompatiblePeer as exc:
            raise HostKeyError(
                f"node {self._where()} offers no {pinned_type} host key; pinned "
                f"{fingerprint(self._pinned)} — refusing an unknown key",
                host=s.host,
            ) from exc
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise GuestCommandError(
                f"cannot reach the node shell at {self._where()}: {str(exc) or type(exc).__name__}",
                exit_code=-1,
            ) from exc
        if offered.asbytes() != self._pinned.asbytes():
            transport.close()
            raise HostKeyError(
                f"host key of node {self._where()} changed: offered {fingerprint(offered)}, "
                f"pinned {fingerprint(self._pinned)} — refusing",
                host=s.host,
            )
        try:
            transport.auth_publickey(s.user, self._pkey or self._load_key())
        except paramiko.SSHException as exc:
            transport.close()
            raise AuthError(
                f"node shell: public-key login as {s.user} refused by {self._where()}: "
                + mask(str(exc), self._secrets)
            ) from None
        transport.set_keepalive(30)
        return transport

    def _load_key(self) -> paramiko.PKey:
        # types-paramiko names the parameter "password: str"; paramiko 3.2+ takes
        # "passphrase" and hands it to cryptography, which wants bytes.
        from_path: Any = paramiko.PKey.from_path
        try:
            key: paramiko.PKey = from_path(
                self.settings.key_file, passphrase=self._passphrase_bytes()
            )
        except (OSError, paramiko.SSHException, ValueError, TypeError) as exc:
            raise AuthError(
                f"node shell key file {self.settings.key_file} unusable: "
                + mask(str(exc), self._secrets)
            ) from None
        return key

    def _passphrase_bytes(self) -> bytes | None:
        p = self.settings.key_passphrase
        return p.encode() if p else None

    # --- commands -----------------------------------------------------------------------------

    def exec(
        self,
        vmid: int,
        argv: Sequence[Arg],
        stdin: bytes | str | None = None,
        timeout: float | None = None,
    ) -> ExecResult:
        """Run ``argv`` in CT ``vmid`` via ``pct exec <vmid> -- argv`` (CT must be running)."""
        return self.run(["pct", "exec", str(int(vmid)), "--", *argv], stdin=stdin, timeout=timeout)

    def run(
        self,
        argv: Sequence[Arg],
        stdin: bytes | str | None = None,
        timeout: float | None = None,
    ) -> ExecResult:
        """Run ``argv`` on the node. Never raises for a non-zero exit (``ExecResult.check``);
        raises ``CommandTimeoutError`` after ``timeout`` seconds (channel closed)."""
        command = quote_argv(argv)
        hidden = [*self._secrets, *secrets_in(argv)]
        shown = display_argv(argv, hidden)
        limit = self.settings.command_timeout_s if timeout is None else timeout
        log.debug("node %s$ %s", self.settings.host, shown)
        channel = self._connected().open_session(timeout=self.settings.connect_timeout_s)
        try:
            channel.exec_command(command)
            if stdin is not None:
                # Small payloads only (unit files, scripts): written before output is read.
                channel.sendall(stdin.encode() if isinstance(stdin, str) else stdin)
            channel.shutdown_write()
            out, err = self._collect(channel, limit, shown, hidden)
            code = channel.recv_exit_status()
        finally:
            channel.close()
        log.debug("node %s$ %s -> exit %s", self.settings.host, shown, code)
        return ExecResult(
            argv=tuple(reveal(a) for a in argv),
            exit_code=code,
            stdout=out.decode("utf-8", "replace"),
            stderr=err.decode("utf-8", "replace"),
            secrets=tuple(hidden),
        )

    def _collect(
        self, channel: paramiko.Channel, timeout: float, shown: str, hidden: list[str]
    ) -> tuple[bytes, bytes]:
        deadline = self._clock() + timeout
        out, err = bytearray(), bytearray()
        while True:
            while channel.recv_ready():
                out += channel.recv(_CHUNK)
            while channel.recv_stderr_ready():
                err += channel.recv_stderr(_CHUNK)
            # exit_status_ready() is also true once the channel closed without a status;
            # the server sends all output before the status, so the buffers are complete.
            if channel.exit_status_ready() and not (
                channel.recv_ready() or channel.recv_stderr_ready()
            ):
                return bytes(out), bytes(err)
            remaining = deadline - self._clock()
            if remaining <= 0:
                tail = mask(err.decode("utf-8", "replace").strip()[-2000:], hidden)
                raise CommandTimeoutError(
                    f"{shown} did not finish within {timeout:g}s", timeout_s=timeout, stderr=tail
                )
            select.select([channel], [], [], min(_WAKE_S, remaining))
