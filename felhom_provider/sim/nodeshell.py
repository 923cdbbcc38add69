"""The node's SSH shell: a paramiko server on loopback where root runs ``pct`` and ``vzdump``.

It keeps its own host key (``<state>/nodeshell/ssh_host_ed25519_key``) across restarts, so a
client can pin it, and accepts exactly one login: ``root`` with the public key of
``<state>/nodeshell/client_ed25519``, a key pair the simulator generates on first start.
Each ``exec`` request runs one command line through ``guest.nodecli.NodeCli``; the command's
stdin is what the client sends until it closes its side (``shutdown_write``) — a client that
never does gets its command run after ``stdin_wait`` seconds with what arrived by then.
Interactive shells, port forwarding and SFTP are not offered.

``register(ext)`` adds this service and the guests' sshd (``guest_sshd``) to the simulator;
``endpoint.json`` then carries ``node_shell`` {host, port, user, host_public_key,
client_private_key_path} and ``guest_ssh_port``.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

import paramiko

from felhom_provider.sim.guest.hooks import SimGuestHooks
from felhom_provider.sim.guest.nodecli import NodeCli
from felhom_provider.sim.guest.sshbase import (
    ExecSession,
    Listener,
    ensure_ed25519_key,
    public_line,
    read_stdin,
)
from felhom_provider.sim.guest_sshd import GuestSshdService

if TYPE_CHECKING:
    from collections.abc import Callable

    from felhom_provider.sim.hooks import Extensions, RunningSim
    from felhom_provider.sim.state import SimState

USER = "root"
PORT_ENV = "FELHOM_SIM_GUEST_SSH_PORT"


class _Session(ExecSession):
    """One SSH connection: public-key auth for root, exec requests only."""

    def __init__(self, shell: NodeShell) -> None:
        super().__init__(shell.handle)
        self.shell = shell

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        if username == USER and key.get_base64() == self.shell.client_key.get_base64():
            return paramiko.common.AUTH_SUCCESSFUL
        return paramiko.common.AUTH_FAILED


class NodeShell:
    """The SSH server; ``start`` binds, ``close`` stops."""

    def __init__(
        self,
        state: SimState,
        hooks: SimGuestHooks,
        *,
        current: Callable[[], SimState] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        stdin_wait: float = 2.0,
    ) -> None:
        self.state = state
        # The live state: the control API's restart swaps the server's state object.
        self._current = current or (lambda: state)
        self.cli = NodeCli(state, hooks)
        key_dir = Path(state.dir) / "nodeshell"
        self.host_key = ensure_ed25519_key(key_dir / "ssh_host_ed25519_key", "root@sim-node")
        self.client_key_path = key_dir / "client_ed25519"
        self.client_key = ensure_ed25519_key(self.client_key_path, "felhom-sim-client")
        self.host, self.port, self.stdin_wait = host, port, stdin_wait
        self._listener: Listener | None = None

    def start(self) -> dict[str, Any]:
        """Bind and serve; returns the ``node_shell`` entry of endpoint.json."""
        self._listener = Listener(self.host, self.port, self._serve, "node-shell")
        self.port = self._listener.port
        return {
            "host": self.host,
            "port": self.port,
            "user": USER,
            "host_public_key": public_line(self.host_key),
            "client_private_key_path": str(self.client_key_path),
        }

    def _serve(self, conn: socket.socket) -> None:
        transport = paramiko.Transport(conn)
        transport.add_server_key(self.host_key)
        try:
            # Channels are served from exec requests (``_Session``). They are never taken
            # with ``accept()``: a dropped Channel object closes itself when collected.
            transport.start_server(server=_Session(self))
        except (paramiko.SSHException, EOFError, OSError):
            transport.close()

    def handle(self, channel: paramiko.Channel, command: str) -> None:
        """Run one exec request and send output and exit status back."""
        try:
            stdin = read_stdin(channel, self.stdin_wait)
            self.cli.state = self._current()
            result = self.cli.run(command, stdin)
            if result.stdout:
                channel.sendall(result.stdout.encode())
            if result.stderr:
                channel.sendall_stderr(result.stderr.encode())
            channel.send_exit_status(result.code)
        except OSError:
            pass
        finally:
            channel.close()

    def close(self) -> None:
        """Stop listening."""
        if self._listener is not None:
            self._listener.close()
            self._listener = None


class NodeShellService:
    """The ``ExtraService`` wrapper: builds the shell from the running simulator."""

    def __init__(self, hooks: SimGuestHooks, host: str = "127.0.0.1", port: int = 0) -> None:
        self.hooks, self.host, self.port = hooks, host, port
        self.shell: NodeShell | None = None

    def start(self, sim: RunningSim) -> dict[str, Any]:
        """Start on ``sim.state``; returns ``{"node_shell": {...}}`` for endpoint.json."""
        self.shell = NodeShell(
            sim.state, self.hooks, current=lambda: sim.state, host=self.host, port=self.port
        )
        return {"node_shell": self.shell.start()}

    def stop(self) -> None:
        """Stop the shell."""
        if self.shell is not None:
            self.shell.close()


def register(ext: Extensions) -> None:
    """Add the node shell and the guests' sshd (needs the guest hooks registered first)."""
    if not isinstance(ext.hooks, SimGuestHooks):
        ext.hooks = SimGuestHooks()
    port = os.environ.get(PORT_ENV)
    ext.services.append(NodeShellService(ext.hooks))
    ext.services.append(GuestSshdService(ext.hooks, int(port) if port else None))
