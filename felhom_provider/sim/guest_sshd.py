"""Each running guest's sshd, reachable at its DHCP lease address to read its host keys.

While a guest's ``ssh.service`` is active and it holds a lease, a paramiko server listens on
``<lease address>:<guest_ssh_port>`` and presents the guest's current host keys, so a client
can read them by handshake (the product's host-key probe does exactly that, without logging
in). ``root`` may log in with a public key listed in the guest's ``/root/.ssh/authorized_keys``
(OpenSSH's default ``AuthorizedKeysFile``; Debian's ``PermitRootLogin prohibit-password``), with
sshd's ``StrictModes`` checks on modes (``auth_secure_path``: the file, ``/root/.ssh`` and
``/root`` must not be group- or world-writable; ownership is not modelled). A logged-in client
may run one command per exec channel; it runs through the guest interpreter as
``bash -c <command>`` (the user's shell), with the channel's input as stdin. Passwords, other
users, interactive shells, SFTP and forwarding are refused. The listener follows the guest:
it closes when ``ssh.service`` stops or fails and when the CT stops, and picks up
regenerated keys on the next connection.

Port: real guests listen on 22. The port is configurable (``FELHOM_SIM_GUEST_SSH_PORT``, or
``port=`` in code; 0 means "any free port"); by default it is 22 when the process may bind it
and no other simulator on the machine holds it, otherwise a free port chosen once at start
(see ``reserve_port``). Either way it is published in ``endpoint.json`` as
``guest_ssh_port``. Two running guests leased the same address (the
seed's F1 collision) cannot both listen: the first keeps the port, like the one host that wins
ARP on a LAN.
"""

from __future__ import annotations

import functools
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

import paramiko

from felhom_provider.sim.guest.hooks import GuestNotRunningError, SshdView
from felhom_provider.sim.guest.sshbase import ExecSession, Listener, load_private_key, read_stdin

if TYPE_CHECKING:
    from felhom_provider.sim.guest.hooks import SimGuestHooks
    from felhom_provider.sim.hooks import RunningSim

PROBE_ADDRESS = "127.77.255.254"


def reserve_port(preferred: int | None = None) -> tuple[int, socket.socket | None]:
    """The port for every guest listener of this simulator, and a socket that reserves it.

    ``None``: 22 if this process can bind it, else a free port; ``0``: a free port (never 22);
    any other number: exactly that. The reservation is a socket bound (not listening) on
    ``PROBE_ADDRESS``:port for the simulator's lifetime, so a second simulator on the same
    machine cannot pick the same port, and its guests (which get the same 127.77.x.y leases)
    never answer for this one's.
    """
    if preferred:
        return preferred, None
    for port in (22, 0) if preferred is None else (0,):
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            probe.bind((PROBE_ADDRESS, port))
        except OSError:
            probe.close()
            continue
        return int(probe.getsockname()[1]), probe
    raise RuntimeError("no port available for guest sshd listeners")


class _NoLogin(paramiko.ServerInterface):
    """Offers publickey/password and refuses both: handshakes only."""

    def get_allowed_auths(self, username: str) -> str:
        return "publickey,password"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        return paramiko.common.AUTH_FAILED

    def check_auth_password(self, username: str, password: str) -> int:
        return paramiko.common.AUTH_FAILED


class _Login(ExecSession):
    """root with a key from the guest's authorized_keys; exec channels run in the guest."""

    def __init__(self, sshd: GuestSshd, vmid: int) -> None:
        super().__init__(functools.partial(sshd.run, vmid))
        self.sshd, self.vmid = sshd, vmid

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        if username != "root" or self.sshd.hooks is None or self.sshd.server is None:
            return paramiko.common.AUTH_FAILED
        try:
            allowed = self.sshd.hooks.authorized_keys(self.sshd.server.state, self.vmid)
        except Exception:  # the CT went away meanwhile: no login
            return paramiko.common.AUTH_FAILED
        if any(b64 == key.get_base64() for _, b64 in allowed):
            return paramiko.common.AUTH_SUCCESSFUL
        return paramiko.common.AUTH_FAILED


class GuestSshd:
    """All guests' sshd listeners; feed it ``update`` from the guest hooks."""

    def __init__(self, port: int | None = None, stdin_wait: float = 2.0) -> None:
        self.hooks: SimGuestHooks | None = None
        self.server: RunningSim | None = None  # its ``state`` is swapped by a reload
        self.stdin_wait = stdin_wait
        self.port, self._reservation = reserve_port(port)
        self._lock = threading.Lock()
        self._listeners: dict[int, Listener] = {}
        self._keys: dict[int, tuple[str, ...]] = {}
        self._owner: dict[str, int] = {}

    def update(self, vmid: int, view: SshdView | None) -> None:
        """Listen for ``vmid`` with ``view``'s keys, or stop listening when ``view`` is None."""
        with self._lock:
            old = self._listeners.get(vmid)
            if view is None or not view.private_keys:
                self._drop(vmid)
                self._keys.pop(vmid, None)
                return
            self._keys[vmid] = view.private_keys
            if old is not None and old.host == view.address:
                return
            self._drop(vmid)
            if self._owner.get(view.address, vmid) != vmid:
                return  # another guest already answers at this address
            try:
                listener = Listener(
                    view.address, self.port, functools.partial(self._serve, vmid), f"sshd-{vmid}"
                )
            except (OSError, ValueError):  # busy, or an address outside 127.0.0.0/8
                return
            self._listeners[vmid] = listener
            self._owner[view.address] = vmid

    def _drop(self, vmid: int) -> None:
        listener = self._listeners.pop(vmid, None)
        if listener is not None:
            self._owner.pop(listener.host, None)
            listener.close()

    def _serve(self, vmid: int, conn: socket.socket) -> None:
        with self._lock:
            keys = self._keys.get(vmid, ())
        transport = paramiko.Transport(conn)
        try:
            for text in keys:
                transport.add_server_key(load_private_key(text))
            transport.local_version = "SSH-2.0-OpenSSH_10.0p1 Debian-7"
            transport.start_server(server=_Login(self, vmid) if self.hooks else _NoLogin())
        except (paramiko.SSHException, EOFError, OSError):
            transport.close()
            return
        # Channels are served from exec requests; wait for the client to finish, then close.
        while transport.is_active():
            time.sleep(0.05)
        transport.close()

    def run(self, vmid: int, channel: paramiko.Channel, command: str) -> None:
        """Run one exec request in the guest: ``bash -c command`` with the channel's input."""
        assert self.hooks is not None and self.server is not None
        try:
            stdin = read_stdin(channel, self.stdin_wait)
            try:
                state = self.server.state
                result = self.hooks.exec(state, vmid, ["bash", "-c", command], stdin)
            except GuestNotRunningError:
                channel.send_exit_status(255)
                return
            if result.stdout:
                channel.sendall(result.stdout.encode())
            if result.stderr:
                channel.sendall_stderr(result.stderr.encode())
            channel.send_exit_status(result.code)
        except OSError:
            pass
        finally:
            channel.close()

    def addresses(self) -> dict[int, str]:
        """vmid → address currently listening (for tests and diagnostics)."""
        with self._lock:
            return {v: lst.host for v, lst in self._listeners.items()}

    def close(self) -> None:
        """Close every listener and release the port reservation."""
        with self._lock:
            for vmid in list(self._listeners):
                self._drop(vmid)
            if self._reservation is not None:
                self._reservation.close()
                self._reservation = None


class GuestSshdService:
    """The simulator service wrapper: subscribes to the hooks, publishes the port."""

    def __init__(self, hooks: SimGuestHooks, port: int | None = None) -> None:
        self.hooks = hooks
        self.sshd = GuestSshd(port)
        hooks.listeners.append(self.sshd.update)

    def start(self, sim: RunningSim) -> dict[str, Any]:
        """Pick up guests already running (after a restart); return endpoint.json keys."""
        state = sim.state
        self.sshd.hooks, self.sshd.server = self.hooks, sim
        with state.mutex:
            cts = list(state.cts.values())
        for view in self.hooks.views(cts):
            self.sshd.update(view.vmid, view)
        return {"guest_ssh_port": self.sshd.port}

    def stop(self) -> None:
        """Close all guest listeners."""
        self.sshd.close()
