"""SSH host keys of a fresh guest: handshake, node shell or both; regenerate if none.

The golden bakes a one-shot unit that runs ``ssh-keygen -A`` before ``ssh.service``
(design §2.4), because ``pct restore`` neither regenerates keys nor clears machine-id
(design §4.3; seed F3). The engine reads the keys the guest's sshd proves at its
address (no login), or the guest's ``/etc/ssh/ssh_host_*_key.pub`` over the pinned node
shell (``pct exec``: no network path from the runner to the guest needed), or both, and then
requires them to be equal. It publishes the full keys and their SHA256 fingerprints. If none
appear and a node shell exists, it runs ``ssh-keygen -A`` and restarts ``ssh`` (journaled);
without a shell that is a clear HostKeyError.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
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
    """``guest.hostkeys.probe_public_keys`` limited to :data:`KEYGEN_A_ALGORITHMS`."""
    from felhom_provider.guest.hostkeys import probe_public_keys  # noqa: PLC0415

    return functools.partial(probe_public_keys, algorithms=KEYGEN_A_ALGORITHMS)


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


def _fingerprints(lines: Mapping[str, str]) -> dict[str, str]:
    from felhom_provider.guest.hostkeys import line_fingerprint  # noqa: PLC0415

    return {t: line_fingerprint(line) for t, line in sorted(lines.items())}


def parse_pub_files(text: str) -> dict[str, str]:
    """``{type: "<type> <base64>"}`` from the concatenated ``/etc/ssh/ssh_host_*_key.pub``
    (comments dropped; lines that are not keys ignored)."""
    keys: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in KNOWN_TYPES:
            keys[parts[0]] = f"{parts[0]} {parts[1]}"
    return keys


#: Key types as the ``.pub`` files and the handshake name them (RSA is ``ssh-rsa`` in both).
KNOWN_TYPES = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
)
#: Read inside the guest over the node shell: no network path from the runner is needed.
READ_PUB = ("sh", "-c", "cat /etc/ssh/ssh_host_*_key.pub")


@dataclass(frozen=True)
class VerifiedKeys:
    """A guest's host keys: full lines by type, and their fingerprints."""

    public: dict[str, str]

    @property
    def fingerprints(self) -> dict[str, str]:
        """``{type: "SHA256:…"}``."""
        return _fingerprints(self.public)


class HostKeys:
    """Read and verify a guest's SSH host keys; regenerate once when none exist.

    ``mode``: ``handshake`` reads what the guest's sshd proves at its address;
    ``nodeShell`` reads ``/etc/ssh/*.pub`` inside the guest over the pinned node shell
    (``pct exec``); ``both`` does both and requires them to be equal (a mismatch means
    something else answers at the guest's address: HostKeyError).
    """

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

    def read_files(self, vmid: int) -> dict[str, str]:
        """The keys in the guest's ``/etc/ssh/*.pub`` (empty when none or no shell)."""
        if self.shell is None:
            return {}
        result = self.shell.exec(vmid, list(READ_PUB), timeout=60)
        if int(getattr(result, "exit_code", 0) or 0) != 0:
            return {}
        out = getattr(result, "stdout", "")
        return parse_pub_files(out.decode() if isinstance(out, bytes) else str(out))

    def observe(self, vmid: int, ip: str | None, mode: str) -> dict[str, str]:
        """One look (refresh): the keys by ``mode``; empty when they cannot be read now.

        With ``both`` a mismatch raises HostKeyError, as at create.
        """
        files = self.read_files(vmid) if mode != "handshake" else {}
        offered = self.probe_once(ip) if ip and mode != "nodeShell" else {}
        if mode == "both" and files and offered:
            _require_equal(offered, files, vmid, ip or "")
        return files or offered

    def _wait(self, read: Callable[[], dict[str, str]]) -> dict[str, str]:
        keys = poll_until(self.clock, self.sleep, self.timeout_s, self.poll_s, read)
        return dict(keys or {})

    def _read(self, vmid: int, ip: str, mode: str) -> dict[str, str]:
        if mode == "nodeShell":
            return self._wait(lambda: self.read_files(vmid))
        offered = self._wait(lambda: self.probe(ip, self.port, PROBE_TIMEOUT_S))
        if mode == "both" and offered:
            _require_equal(offered, self.read_files(vmid), vmid, ip)
        return offered

    def ensure(
        self,
        vmid: int,
        ip: str,
        journal: Journal,
        say: Progress,
        *,
        guest: str,
        mode: str = "handshake",
    ) -> VerifiedKeys:
        """The guest's verified host keys, regenerating once if none exist."""
        shell_side = "/etc/ssh over pct exec"
        where = f"{ip}:{self.port} (handshake)" if mode != "nodeShell" else shell_side
        say(f"reading SSH host keys: {where}{' and ' + shell_side if mode == 'both' else ''}")
        keys = self._read(vmid, ip, mode)
        if keys:
            journal.record("host-keys", {"ip": ip, "port": self.port, "mode": mode}, result=keys)
            return VerifiedKeys(keys)
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
        say("no host keys found; regenerating with pct exec ssh-keygen -A, restarting ssh")
        for argv in REGENERATE:
            entry = journal.begin("regen-host-keys", {"vmid": vmid, "argv": list(argv)})
            result = self.shell.exec(vmid, list(argv), timeout=120)
            check_exec(result, argv, vmid)
            journal.done(entry, int(getattr(result, "exit_code", 0) or 0))
        keys = self._read(vmid, ip, mode)
        if not keys:
            raise HostKeyError(
                f"CT {vmid} still has no SSH host keys ({where}) after "
                "ssh-keygen -A and restarting ssh",
                guest=guest,
                vmid=vmid,
                step="host-keys",
            )
        journal.record("host-keys", {"ip": ip, "port": self.port, "mode": mode}, result=keys)
        return VerifiedKeys(keys)


def _require_equal(
    offered: Mapping[str, str], files: Mapping[str, str], vmid: int, ip: str
) -> None:
    """The keys proven at ``ip`` must be the guest's own (those its files hold)."""
    mine = {t: files.get(t) for t in offered}
    if mine != dict(offered):
        differ = sorted(t for t in offered if files.get(t) != offered[t])
        raise HostKeyError(
            f"the SSH server at {ip} offers host keys {differ} that CT {vmid} does not hold "
            "in /etc/ssh: something else answers at the guest's address (address conflict "
            "or interception); not trusting it",
            vmid=vmid,
            step="host-keys",
        )
