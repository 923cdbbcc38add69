"""A loopback SSH server for the node-shell and host-key-probe tests (127.0.0.1 only).

It presents the given host keys, accepts public-key login for ``root`` with one authorized
key, records every exec command line, and runs a tiny command table on the argv parsed back
with ``shlex.split`` — the same way a login shell on the node would see it:

* ``pct exec <vmid> -- <argv>`` runs ``<argv>`` "in the guest" (refused for vmid 999);
* ``argv …`` prints the argv it received as JSON;  ``cat`` echoes stdin (read to EOF);
* ``fail <code> [words…]`` writes the words to stderr and exits ``code``;
* ``hang`` never finishes.
"""

from __future__ import annotations

import contextlib
import io
import json
import shlex
import socket
import threading
from dataclasses import dataclass, field

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from paramiko.common import (
    AUTH_FAILED,
    AUTH_SUCCESSFUL,
    OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED,
    OPEN_SUCCEEDED,
)

# paramiko cannot write Ed25519 keys; remember the cryptography objects by public blob.
_PRIVATE: dict[bytes, ed25519.Ed25519PrivateKey] = {}


def new_ed25519() -> paramiko.Ed25519Key:
    """A fresh Ed25519 key (paramiko cannot generate these itself)."""
    private = ed25519.Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    key = paramiko.Ed25519Key(file_obj=io.StringIO(pem))
    _PRIVATE[key.asbytes()] = private
    return key


def write_private_key(key: paramiko.PKey, path: str, passphrase: str | None = None) -> None:
    """Write an Ed25519 key made by ``new_ed25519`` in OpenSSH format, optionally encrypted."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.encode())
        if passphrase
        else serialization.NoEncryption()
    )
    data = _PRIVATE[key.asbytes()].private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, encryption
    )
    with open(path, "wb") as fh:
        fh.write(data)


def public_line(key: paramiko.PKey) -> str:
    """``<type> <base64>`` as in an OpenSSH ``.pub`` file."""
    return f"{key.get_name()} {key.get_base64()} test"


@dataclass
class _Interface(paramiko.ServerInterface):
    owner: LoopbackSshServer

    def __post_init__(self) -> None:
        super().__init__()

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        self.owner.auth_attempts += 1
        ok = username == "root" and key.asbytes() == self.owner.authorized.asbytes()
        return AUTH_SUCCESSFUL if ok else AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return OPEN_SUCCEEDED
        return OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        text = command.decode()
        self.owner.commands.append(text)
        threading.Thread(target=_run, args=(channel, text), daemon=True).start()
        return True


def _run(channel: paramiko.Channel, command: str) -> None:
    argv = shlex.split(command)
    code = 0
    # The client sends EOF only after paramiko acknowledged the exec request, so reading
    # stdin to EOF first keeps replies from racing that acknowledgement.
    stdin = bytearray()
    while chunk := channel.recv(65536):
        stdin += chunk
    try:
        if argv[:2] == ["pct", "exec"] and len(argv) > 3 and argv[3] == "--":
            if argv[2] == "999":
                channel.sendall_stderr(b"container '999' not running!\n")
                code, argv = 255, []
            else:
                argv = argv[4:]
        if not argv:
            pass
        elif argv[0] == "argv":
            channel.sendall(json.dumps(argv[1:]).encode() + b"\n")
        elif argv[0] == "cat":
            channel.sendall(bytes(stdin))
        elif argv[0] == "fail":
            channel.sendall_stderr(" ".join(["error:", *argv[2:]]).encode() + b"\n")
            code = int(argv[1])
        elif argv[0] == "hang":
            while not channel.closed:
                channel.status_event.wait(0.05)
            return
        else:
            channel.sendall_stderr(f"{argv[0]}: command not found\n".encode())
            code = 127
        channel.send_exit_status(code)
    finally:
        channel.close()


@dataclass
class LoopbackSshServer:
    """Serves SSH on 127.0.0.1:<ephemeral> until ``close()``."""

    host_keys: list[paramiko.PKey]
    authorized: paramiko.PKey
    commands: list[str] = field(default_factory=list)
    auth_attempts: int = 0
    connections: int = 0

    def __post_init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._transports: list[paramiko.Transport] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._sock.getsockname()[1])

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            transport = paramiko.Transport(conn)
            for key in self.host_keys:
                transport.add_server_key(key)
            self._transports.append(transport)
            try:
                transport.start_server(server=_Interface(self))
            except (paramiko.SSHException, EOFError, OSError):
                transport.close()

    def close(self) -> None:
        # shutdown() wakes the thread blocked in accept(); close() alone would leave the
        # socket listening until that accept returned.
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        self._thread.join(timeout=5)
        for transport in self._transports:
            transport.close()
