"""SSH host keys of a fresh guest: verify by handshake, regenerate over the node shell.

The golden bakes a one-shot unit that runs ``ssh-keygen -A`` before ``ssh.service``
(design §2.4), because ``pct restore`` neither regenerates keys nor clears machine-id
(design §4.3; seed F3). The engine checks the result host-side by reading the keys
the guest's sshd offers (no login) and publishes their SHA256 fingerprints. If none appear
and a node shell exists, it runs ``pct exec <vmid> -- ssh-keygen -A`` and restarts ``ssh``
(journaled); without a shell that is a clear HostKeyError.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from felhom_provider.errors import GuestCommandError, HostKeyError
from felhom_provider.reconcile.apply import poll_until
from felhom_provider.reconcile.journal import Journal
from felhom_provider.reconcile.ports import HostKeyProbe, Progress, ShellLike

REGENERATE = (("ssh-keygen", "-A"), ("systemctl", "restart", "ssh"))
PROBE_TIMEOUT_S = 5.0


#: The key types ``ssh-keygen -A`` creates (RSA, ECDSA P-256, Ed25519: ssh-keygen(1)), which
#: is what the baked unit and the fallback make; one handshake each, P-384/P-521 not probed.
KEYGEN_A_ALGORITHMS = ("ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-512")


def default_probe() -> HostKeyProbe:
    """``guest.hostkeys.probe_host_keys`` limited to :data:`KEYGEN_A_ALGORITHMS`."""
    from felhom_provider.guest.hostkeys import probe_host_keys  # noqa: PLC0415

    return functools.partial(probe_host_keys, algorithms=KEYGEN_A_ALGORITHMS)


def check_exec(result: Any, argv: tuple[str, ...], vmid: int) -> None:
    """Raise GuestCommandError for a non-zero exit (shells may also raise it themselves)."""
    code = int(getattr(result, "exit_code", 0) or 0)
    if code != 0:
        raise GuestCommandError(
            f"`{' '.join(argv)}` in CT {vmid} exited {code}",
            exit_code=code,
            stderr=str(getattr(result, "stderr", ""))[-500:],
            vmid=vmid,
        )


class HostKeys:
    """Probe and, when needed and possible, regenerate a guest's SSH host keys."""

    def __init__(
        self,
        shell: ShellLike | None,
        probe: HostKeyProbe | None,
        *,
        port: int,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        timeout_s: float,
        poll_s: float,
    ) -> None:
        self.shell = shell
        self._probe = probe
        self.port = port
        self.clock = clock
        self.sleep = sleep
        self.timeout_s = timeout_s
        self.poll_s = poll_s

    @property
    def probe(self) -> HostKeyProbe:
        """The probe function (``felhom_provider.guest.hostkeys`` unless injected)."""
        if self._probe is None:
            self._probe = default_probe()
        return self._probe

    def probe_once(self, ip: str) -> dict[str, str]:
        """One handshake; empty when sshd does not answer or offers no keys."""
        try:
            return dict(self.probe(ip, self.port, PROBE_TIMEOUT_S))
        except (HostKeyError, OSError):
            return {}

    def _wait(self, ip: str) -> dict[str, str]:
        keys = poll_until(
            self.clock,
            self.sleep,
            self.timeout_s,
            self.poll_s,
            lambda: self.probe(ip, self.port, PROBE_TIMEOUT_S),
        )
        return dict(keys or {})

    def ensure(
        self, vmid: int, ip: str, journal: Journal, say: Progress, *, guest: str
    ) -> dict[str, str]:
        """Return ``{type: "SHA256:…"}`` offered by the guest, regenerating once if needed."""
        say(f"reading SSH host keys from {ip}:{self.port} (handshake, no login)")
        keys = self._wait(ip)
        if keys:
            journal.record("host-keys", {"ip": ip, "port": self.port}, result=keys)
            return keys
        if self.shell is None:
            raise HostKeyError(
                f"CT {vmid} offers no SSH host keys on {ip}:{self.port} after "
                f"{self.timeout_s:.0f}s and no node shell is configured to regenerate them; "
                "rebuild the golden image (it bakes the felhom-ssh-keygen unit) or configure "
                "felhom:nodeShell",
                guest=guest,
                vmid=vmid,
                step="host-keys",
            )
        say("no host keys offered; regenerating with pct exec ssh-keygen -A, restarting ssh")
        for argv in REGENERATE:
            entry = journal.begin("regen-host-keys", {"vmid": vmid, "argv": list(argv)})
            result = self.shell.exec(vmid, list(argv), timeout=120)
            check_exec(result, argv, vmid)
            journal.done(entry, int(getattr(result, "exit_code", 0) or 0))
        keys = self._wait(ip)
        if not keys:
            raise HostKeyError(
                f"CT {vmid} still offers no SSH host keys on {ip}:{self.port} after "
                "ssh-keygen -A and restarting ssh",
                guest=guest,
                vmid=vmid,
                step="host-keys",
            )
        journal.record("host-keys", {"ip": ip, "port": self.port}, result=keys)
        return keys
