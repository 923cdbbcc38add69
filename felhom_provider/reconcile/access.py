"""SSH access: the operator's and the customer's keys in the guest's root authorized_keys.

Mechanism: written over the pinned node shell (``pct exec``) after the guest is up, not
baked into the golden image. Baking would put one stack's keys into an archive that every
stack restores, would need a golden rebuild for every key change, and could never remove a
key from a running guest; ``ssh-public-keys`` is ignored by PVE on restore. Over the node
shell the file is replaced as a whole on every create and update (so a removed key is gone
after ``up``), owned by root with ``/root/.ssh`` at 0700 and the file at 0600 (sshd's
``StrictModes`` refuses keys in group/world-writable places), then read back and compared.
"""

from __future__ import annotations

from collections.abc import Sequence

from felhom_provider.errors import VerificationError
from felhom_provider.reconcile.hostkeys import check_exec
from felhom_provider.reconcile.journal import Journal
from felhom_provider.reconcile.ports import Progress, ShellLike

SSH_DIR = "/root/.ssh"
AUTHORIZED_KEYS = f"{SSH_DIR}/authorized_keys"
#: First line of a managed file: ``up`` replaces the whole file, hand edits do not survive.
HEADER = "# managed by felhom (pulumi up replaces this file): operator keys, then customer keys"

#: ``install`` creates with the mode and owner in one step (no window with a wider mode).
WRITE = (
    ("install", "-d", "-m", "0700", "-o", "root", "-g", "root", SSH_DIR),
    ("install", "-m", "0600", "-o", "root", "-g", "root", "/dev/stdin", AUTHORIZED_KEYS),
)
READ = ("cat", AUTHORIZED_KEYS)


def render(keys: Sequence[str]) -> str:
    """The file's content: the header, then one key per line."""
    return "\n".join((HEADER, *keys)) + "\n"


def read_keys(shell: ShellLike, vmid: int) -> str | None:
    """The guest's authorized_keys as it is now, or None when there is none."""
    result = shell.exec(vmid, list(READ), timeout=60)
    return result.stdout if result.exit_code == 0 else None


def needs_write(current: str | None, keys: Sequence[str]) -> bool:
    """Write when the content differs, but leave an unmanaged guest without keys alone."""
    if current is None and not keys:
        return False
    if current is not None and not keys and not current.startswith(HEADER):
        return False
    return current != render(keys)


def sync_keys(
    shell: ShellLike | None,
    vmid: int,
    keys: Sequence[str],
    journal: Journal,
    say: Progress,
    *,
    guest: str,
) -> bool:
    """Make the guest's authorized_keys exactly ``keys`` and verify it; True when written.

    Without a node shell there is nothing to do when no keys are asked for; asking for keys
    without one is refused at preview (``program``), so it is an error here.
    """
    if shell is None:
        if keys:
            raise VerificationError(
                "SSH keys need felhom:nodeShell (they are written with pct exec)",
                guest=guest,
                vmid=vmid,
                step="authorized-keys",
            )
        return False
    current = read_keys(shell, vmid)
    if not needs_write(current, keys):
        return False
    say(f"writing {len(keys)} SSH key(s) to {AUTHORIZED_KEYS} (pct exec; dir 0700, file 0600)")
    content = render(keys)
    for argv in WRITE:
        entry = journal.begin("authorized-keys", {"vmid": vmid, "argv": list(argv)})
        result = shell.exec(vmid, list(argv), stdin=content if "/dev/stdin" in argv else None)
        check_exec(result, argv, vmid)
        journal.done(entry)
    if read_keys(shell, vmid) != content:
        raise VerificationError(
            f"CT {vmid}: {AUTHORIZED_KEYS} does not read back as written",
            guest=guest,
            vmid=vmid,
            step="authorized-keys",
        )
    return True
