"""Guest-internal parts of a golden roll, over the node shell: SSH host keys and Docker.

A restore never carries files from the old root filesystem (it extracts the new archive
into a fresh volume), so the guest's SSH host keys would change with every roll and break
its customers' ``known_hosts``. With a node shell the old key files are read (``pct exec
… cat``) while the old guest still runs, and written into the new root filesystem after its
first boot (``install -m … /dev/stdin``), then ``ssh`` is restarted. Without a node shell
the new keys are published and the step log (and the preview) says so.
"""

from __future__ import annotations

from felhom_provider.errors import GuestCommandError
from felhom_provider.reconcile.hostkeys import check_exec
from felhom_provider.reconcile.ports import ShellLike

#: The key pairs ``ssh-keygen -A`` makes (``hostkeys.KEYGEN_A_ALGORITHMS``), with the modes
#: sshd insists on for the private halves.
KEY_FILES = tuple(
    (f"/etc/ssh/ssh_host_{kind}_key{suffix}", mode)
    for kind in ("rsa", "ecdsa", "ed25519")
    for suffix, mode in (("", "600"), (".pub", "644"))
)
HELLO = ("docker", "run", "--rm", "hello-world")
HELLO_GREETING = "Hello from Docker!"
NO_SHELL_NOTE = (
    "no node shell configured (felhom:nodeShell): the SSH host keys cannot be carried over, "
    "so the guest gets new ones, published in hostKeys; customers must update known_hosts"
)


def host_key_note(shell_configured: bool) -> str | None:
    """What the preview and the step log say about host keys in a roll (None: carried)."""
    return None if shell_configured else NO_SHELL_NOTE


def read_host_keys(shell: ShellLike, vmid: int) -> dict[str, str]:
    """``{path: content}`` of the guest's host key files that exist (it must be running)."""
    keys: dict[str, str] = {}
    for path, _mode in KEY_FILES:
        result = shell.exec(vmid, ["cat", path], timeout=60)
        if result.exit_code == 0 and result.stdout:
            keys[path] = result.stdout
    if not any(path.endswith("_key") for path in keys):
        raise GuestCommandError(
            f"CT {vmid} has no readable SSH host key under /etc/ssh", exit_code=1, vmid=vmid
        )
    return keys


def write_host_keys(shell: ShellLike, vmid: int, keys: dict[str, str]) -> None:
    """Write the old key files into the (running) new root filesystem; restart ``ssh``."""
    modes = dict(KEY_FILES)
    for path, content in sorted(keys.items()):
        install = ("install", "-m", modes.get(path, "600"), "/dev/stdin", path)
        check_exec(shell.exec(vmid, list(install), stdin=content, timeout=60), install, vmid)
    restart = ("systemctl", "restart", "ssh")
    check_exec(shell.exec(vmid, list(restart), timeout=120), restart, vmid)


def docker_problem(shell: ShellLike, vmid: int) -> str | None:
    """Run ``docker run --rm hello-world`` in the guest; None when Docker greets."""
    result = shell.exec(vmid, list(HELLO), timeout=300)
    if result.exit_code == 0 and HELLO_GREETING in result.stdout:
        return None
    tail = (result.stderr or result.stdout).strip()[-300:]
    return f"`docker run --rm hello-world` exited {result.exit_code}: {tail}"
