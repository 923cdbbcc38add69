"""The golden recipe as data: the seed's recipe step by step, plus design §2.4/§2.5 additions.

Every command is an argv list run with ``pct exec <vmid> -- argv`` (no shell unless the argv
starts one, and then only for globs). Keeping the recipe here, pure, lets tests read it and
lets the engine journal each step by name.
"""

from __future__ import annotations

from typing import Any

from felhom_provider.errors import VerificationError
from felhom_provider.reconcile.model import GoldenSpec

#: Docker's apt repository for Debian 13 (docs.docker.com "Install Docker Engine on Debian").
DOCKER_GPG_URL = "https://download.docker.com/linux/debian/gpg"
DOCKER_KEYRING = "/etc/apt/keyrings/docker.asc"
#: Where the key is downloaded to; it reaches ``DOCKER_KEYRING`` only after the check.
DOCKER_KEY_DOWNLOAD = "/tmp/docker-apt-key.asc"
#: Docker's published release key fingerprint (docs.docker.com "Install Docker Engine on
#: Debian": ``9DC8 5822 9FC7 DD38 854A  E2D8 8D81 803C 0EBF CD88``).
DOCKER_KEY_FINGERPRINT = "9DC858229FC7DD38854AE2D88D81803C0EBFCD88"
#: The step whose output :func:`check_docker_key` reads.
KEY_CHECK_STEP = "keyring-fingerprint"
DOCKER_SOURCES_PATH = "/etc/apt/sources.list.d/docker.sources"
DOCKER_SOURCES = (
    "Types: deb\n"
    "URIs: https://download.docker.com/linux/debian\n"
    "Suites: trixie\n"
    "Components: stable\n"
    f"Signed-By: {DOCKER_KEYRING}\n"
)
DOCKER_PACKAGES = ("docker-ce", "docker-ce-cli", "containerd.io")  # seed recipe step 2

#: The baked one-shot unit (design §2.4). It keys on the missing ed25519 key, not on
#: ``ConditionFirstBoot``: the golden's machine-id is truncated (seed step 3), and an empty
#: machine-id is *not* a first boot (machine-id(5)), so Debian's own sshd-keygen.service
#: would not run in a restored guest (design §4.15; seed F3).
KEYGEN_UNIT_NAME = "felhom-ssh-keygen.service"
KEYGEN_UNIT_PATH = f"/etc/systemd/system/{KEYGEN_UNIT_NAME}"
KEYGEN_UNIT = """[Unit]
Description=Generate missing SSH host keys (felhom golden image)
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key
Before=ssh.service sshd.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
"""

Step = tuple[str, tuple[str, ...], str | None]  # (name, argv, stdin)


def create_argv(spec: GoldenSpec, vmid: int) -> list[str]:
    """Seed recipe step 1: the one root step (``keyctl=1`` is root@pam-only, design §2.6)."""
    return [
        "pct", "create", str(vmid), spec.template,
        "--hostname", spec.hostname,
        "--unprivileged", "1",
        "--features", "nesting=1,keyctl=1",
        "--rootfs", f"{spec.rootfs_storage}:{spec.rootfs_gib}",
        "--cores", str(spec.cores),
        "--memory", str(spec.memory),
        "--net0", f"name=eth0,bridge={spec.bridge},ip=dhcp",
        "--onboot", "0",
        "--description", f"felhom-owner={spec.owner}",
    ]  # fmt: skip


#: apt never asks (a debconf prompt would hang ``pct exec`` until its timeout).
APT = "DEBIAN_FRONTEND=noninteractive apt-get -y -q"


def _apt(args: str) -> tuple[str, ...]:
    # A shell only for the environment assignment; every argument here is a constant.
    return ("sh", "-c", f"{APT} {args}")


def docker_install() -> list[Step]:
    """Seed §2 step 2: ca-certificates and curl, Docker's keyring and repository, the engine.

    The key is downloaded aside and installed as the keyring only after the engine has
    checked the output of step ``KEY_CHECK_STEP`` with :func:`check_docker_key`.
    """
    return [
        ("apt-update", _apt("update"), None),
        # gpg (Debian package ``gpg``) only to read the key's fingerprint before apt trusts it.
        ("apt-prereqs", _apt("install ca-certificates curl gpg"), None),
        ("keyring-dir", ("install", "-m", "0755", "-d", "/etc/apt/keyrings"), None),
        ("keyring-download", ("curl", "-fsSL", DOCKER_GPG_URL, "-o", DOCKER_KEY_DOWNLOAD), None),
        (KEY_CHECK_STEP, ("gpg", "--show-keys", "--with-colons", DOCKER_KEY_DOWNLOAD), None),
        # World-readable: apt reads Signed-By keyrings as user _apt.
        ("keyring", ("install", "-m", "0644", DOCKER_KEY_DOWNLOAD, DOCKER_KEYRING), None),
        ("keyring-download-clean", ("rm", "-f", DOCKER_KEY_DOWNLOAD), None),
        ("docker-repo", ("tee", DOCKER_SOURCES_PATH), DOCKER_SOURCES),
        ("apt-update-docker", _apt("update"), None),
        ("docker-install", _apt("install " + " ".join(DOCKER_PACKAGES)), None),
    ]


def bake_keygen_unit() -> list[Step]:
    """design §2.4: write and enable the one-shot host-key unit."""
    return [
        ("keygen-unit", ("tee", KEYGEN_UNIT_PATH), KEYGEN_UNIT),
        ("keygen-enable", ("systemctl", "enable", KEYGEN_UNIT_NAME), None),
    ]


def _sh(script: str) -> tuple[str, ...]:
    # Only for pathname expansion; every script here is a constant.
    return ("sh", "-c", script)


def identity_clean() -> list[Step]:
    """Seed recipe step 3 plus the virt-sysprep items that apply to an LXC guest (design §2.5)."""
    return [
        # docker.socket too, or socket activation would start dockerd again.
        ("stop-docker", ("systemctl", "stop", "docker.socket", "docker", "containerd"), None),
        ("apt-clean", ("apt-get", "clean"), None),
        ("apt-lists", _sh("rm -rf /var/lib/apt/lists/*"), None),
        ("ssh-host-keys", _sh("rm -f /etc/ssh/ssh_host_*"), None),
        # Empty, not deleted: systemd commits a fresh id on first start (seed F3); our own
        # keygen unit does not depend on first-boot semantics.
        ("machine-id", ("truncate", "-s", "0", "/etc/machine-id"), None),
        ("dbus-machine-id", ("rm", "-f", "/var/lib/dbus/machine-id"), None),
        ("dbus-link", ("ln", "-sf", "/etc/machine-id", "/var/lib/dbus/machine-id"), None),
        ("dhcp-leases", _sh("rm -rf /var/lib/dhcp/* /var/lib/dhclient/* /var/lib/dhcpcd/*"), None),
        # systemd-networkd's DHCP client keeps its leases and DUID here.
        ("networkd-state", _sh("rm -rf /var/lib/systemd/network/*"), None),
        # dockerd's engine id (``docker info`` ID): every guest would report the same.
        ("docker-engine-id", ("rm", "-f", "/var/lib/docker/engine-id"), None),
        # No key of the build may log in to a customer guest; keys come from the stack.
        ("root-ssh", ("rm", "-rf", "/root/.ssh"), None),
        # gpg's home, created by the key check (its random seed and trust database).
        ("root-gnupg", ("rm", "-rf", "/root/.gnupg"), None),
        ("random-seed", ("rm", "-f", "/var/lib/systemd/random-seed",
                         "/var/lib/systemd/credential.secret"), None),
        ("tmp-files", _sh("rm -rf /tmp/* /var/tmp/*"), None),
        ("shell-history", _sh("rm -f /root/.bash_history /home/*/.bash_history"), None),
        ("hostname-file", ("rm", "-f", "/etc/hostname"), None),
        # Last, so nothing above logs into a fresh file afterwards.
        ("logs", _sh("rm -rf /var/log/*"), None),
    ]  # fmt: skip


def archive_from_log(lines: list[dict[str, Any]], storage: str) -> str | None:
    """The volid of the archive a vzdump task wrote, from its log line
    ``INFO: creating vzdump archive '/…/dump/<name>'`` (pve-manager ``VZDump.pm``)."""
    for line in lines:
        text = str(line.get("t", ""))
        marker = "creating vzdump archive '"
        if marker in text:
            path = text.split(marker, 1)[1].split("'", 1)[0]
            return f"{storage}:backup/{path.rsplit('/', 1)[-1]}"
    return None


def notes_line(owner: str, docker_driver: str, openssh_version: str) -> str:
    """The archive's notes (``storage/content`` shows the first line): lets read() report
    facts that only the build could observe."""
    return f"felhom-golden owner={owner} docker={docker_driver} openssh={openssh_version}"


def parse_notes(notes: str | None) -> dict[str, str]:
    """Inverse of :func:`notes_line`."""
    words = str(notes or "").split()
    if not words or words[0] != "felhom-golden":
        return {}
    return dict(w.split("=", 1) for w in words[1:] if "=" in w)


def openssh_from_dpkg_log(text: str) -> str:
    """The last ``status installed openssh-server:<arch> <version>`` in /var/log/dpkg.log."""
    version = ""
    for line in text.splitlines():
        words = line.split()
        if "installed" in words:
            i = words.index("installed")
            if len(words) > i + 2 and words[i + 1].startswith("openssh-server:"):
                version = words[i + 2]
    return version


def primary_fingerprints(colons: str) -> list[str]:
    """The fingerprint of every primary key in ``gpg --with-colons`` output.

    GnuPG's ``doc/DETAILS``: a ``pub`` record starts a primary key and the ``fpr`` record
    right after it carries that key's fingerprint in field 10; ``fpr`` records after a
    ``sub`` belong to subkeys and are skipped.
    """
    found: list[str] = []
    last = ""
    for line in colons.splitlines():
        fields = line.split(":")
        if fields[0] == "fpr" and last == "pub" and len(fields) > 9:
            found.append(fields[9].upper())
        if fields[0] in ("pub", "sub", "sec", "ssb", "uid", "uat"):
            last = fields[0]
        elif fields[0] == "fpr":
            last = "fpr"
    return found


def check_docker_key(colons: str, expected: str = DOCKER_KEY_FINGERPRINT) -> None:
    """Refuse a downloaded Docker apt key that is not exactly Docker's release key.

    One primary key with the published fingerprint, nothing else: a file carrying an extra
    key would let apt trust whatever that key signs.
    """
    found = primary_fingerprints(colons)
    if found != [expected]:
        shown = ", ".join(_spaced(f) for f in found) or "no key"
        raise VerificationError(
            f"Docker's apt key from {DOCKER_GPG_URL} is not Docker's release key: expected "
            f"fingerprint {_spaced(expected)}, found {shown}; refusing to install it",
            step=KEY_CHECK_STEP,
        )


def _spaced(fpr: str) -> str:
    """``9DC8 5822 … CD88``: the form Docker publishes (groups of four, two halves)."""
    groups = [fpr[i : i + 4] for i in range(0, len(fpr), 4)]
    if len(groups) == 10:
        return " ".join(groups[:5]) + "  " + " ".join(groups[5:])
    return " ".join(groups)
