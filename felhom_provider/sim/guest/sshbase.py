"""Plumbing shared by the node shell and the guests' sshd: loopback listeners and keys.

Both servers are paramiko ``Transport`` servers behind a plain accepting socket. Only
addresses in 127.0.0.0/8 may be bound: the simulator never listens on a real network.
"""

from __future__ import annotations

import contextlib
import functools
import io
import ipaddress
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from felhom_provider.sim.certs import write_private
from felhom_provider.sim.guest import hostkeys

_KEY_CLASSES: tuple[type[paramiko.PKey], ...] = (
    paramiko.Ed25519Key,
    paramiko.ECDSAKey,
    paramiko.RSAKey,
)


def check_loopback(host: str) -> None:
    """Refuse any address outside 127.0.0.0/8."""
    if ipaddress.ip_address(host) not in ipaddress.ip_network("127.0.0.0/8"):
        raise ValueError(f"the simulator only binds loopback addresses, not {host}")


@functools.lru_cache(maxsize=1024)
def load_private_key(text: str) -> paramiko.PKey:
    """Parse an OpenSSH private key of any type the guests use, once per distinct text.

    A guest's sshd needs its keys on every connection; parsing an RSA 3072 key costs ~0.1 s
    of CPU (OpenSSL validates it), so parsed keys are cached by their text. New keys (say
    after ``ssh-keygen -A``) are new texts and are parsed afresh; unreadable texts raise
    every time (exceptions are not cached). A key this process generated is taken as the
    object it was generated as, without a second validation.
    """
    known = hostkeys.generated_key(text)
    if isinstance(known, rsa.RSAPrivateKey):
        return paramiko.RSAKey(key=known)
    last: Exception | None = None
    for cls in _KEY_CLASSES:
        try:
            return cls.from_private_key(io.StringIO(text))
        except (paramiko.SSHException, ValueError) as exc:
            last = exc
    raise ValueError(f"unreadable private key: {last}")


def ensure_ed25519_key(path: Path, comment: str) -> paramiko.PKey:
    """Load ``path`` or create it (mode 0600, plus ``.pub``) so it survives restarts."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = ed25519.Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
        write_private(path, pem)  # mode 0600 from creation, no chmod window
        public = key.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
        path.with_name(path.name + ".pub").write_text(f"{public.decode()} {comment}\n")
    return load_private_key(path.read_text())


def read_stdin(channel: paramiko.Channel, wait: float) -> str:
    """An exec channel's input: what arrives until the client closes its side (EOF), or
    until nothing arrived for ``wait`` seconds (a client that never closes it)."""
    data = bytearray()
    deadline = time.monotonic() + wait
    channel.settimeout(0.05)
    while time.monotonic() < deadline:
        try:
            chunk = channel.recv(65536)
        except TimeoutError:
            continue
        except OSError:
            break
        if not chunk:  # EOF: the client closed its side
            break
        data += chunk
        deadline = time.monotonic() + wait
    channel.settimeout(None)
    return data.decode("utf-8", "replace")


class ExecSession(paramiko.ServerInterface):
    """A server session that allows ``session`` channels and serves each exec request on a
    thread with ``run(channel, command)``; subclasses decide who may log in."""

    def __init__(self, run: Callable[[paramiko.Channel, str], None]) -> None:
        self._run = run

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return paramiko.common.OPEN_SUCCEEDED
        return paramiko.common.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        text = command.decode("utf-8", "replace")
        threading.Thread(target=self._run, args=(channel, text), daemon=True).start()
        return True


def public_line(key: paramiko.PKey) -> str:
    """``<type> <base64>`` as in known_hosts and authorized_keys."""
    return f"{key.get_name()} {key.get_base64()}"


class Listener:
    """A TCP listener on one loopback address that hands each connection to ``serve``."""

    def __init__(
        self, host: str, port: int, serve: Callable[[socket.socket], None], name: str
    ) -> None:
        check_loopback(host)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.sock.bind((host, port))
        except OSError:
            self.sock.close()
            raise
        self.sock.listen(16)
        self.host, self.port = self.sock.getsockname()[:2]
        self._serve = serve
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def close(self) -> None:
        """Stop accepting; connections already open finish on their own."""
        self._closed.set()
        with contextlib.suppress(OSError):  # not connected: nothing to shut down
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self._thread.join(timeout=2)
