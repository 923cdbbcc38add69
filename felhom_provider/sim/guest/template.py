"""The Debian 13 standard template and what ``pct create`` does to it.

``base_image()`` is the filesystem of ``debian-13-standard_13.1-2_amd64.tar.zst`` as far as the
model goes: the packages of ``catalog.TEMPLATE_PACKAGES`` with their binaries and unit files,
Debian's enablement symlinks, apt sources without downloaded lists (PVE's templates ship with
empty ``/var/lib/apt/lists``), and merged-/usr symlinks. Every guest's filesystem is stored as a
difference to this image, which keeps CT payloads small.

``create_from_template()`` applies PVE's create-time hooks (design §4.15, ``Base.pm``
``post_create_hook`` → ``clear_machine_id`` and ``Setup.pm`` ``rewrite_ssh_host_keys``): it
unlinks ``/etc/machine-id`` so the first boot happens, and writes fresh SSH host keys from the
host side. Restore does neither (design §4.3), which is why the seed hit F3.
"""

from __future__ import annotations

import functools
import posixpath

from felhom_provider.sim.guest import catalog, hostkeys, units
from felhom_provider.sim.guest.fs import DIR, FILE, LINK, Node, VirtualFS

IMAGE = "debian-13-standard_13.1-2"

_DIRS = (
    "/dev", "/etc", "/etc/apt", "/etc/apt/apt.conf.d", "/etc/apt/keyrings",
    "/etc/apt/sources.list.d",
    "/etc/network", "/etc/ssh", "/etc/systemd", "/etc/systemd/system", "/etc/systemd/system-preset",
    "/root", "/run", "/tmp", "/usr", "/usr/bin", "/usr/lib", "/usr/lib/systemd",
    "/usr/lib/systemd/system", "/usr/lib/systemd/system-preset", "/usr/sbin", "/var", "/var/cache",
    "/var/cache/apt", "/var/cache/apt/archives", "/var/cache/apt/archives/partial", "/var/lib",
    "/var/lib/apt", "/var/lib/apt/lists", "/var/lib/apt/lists/partial", "/var/lib/dbus",
    "/var/lib/dhcp", "/var/lib/systemd", "/var/log", "/var/log/apt", "/var/log/journal", "/var/tmp",
)  # fmt: skip

_FILES = {
    "/etc/debian_version": "13.1\n",
    "/usr/lib/os-release": (
        'PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nNAME="Debian GNU/Linux"\nVERSION_ID="13"\n'
        'VERSION="13 (trixie)"\nVERSION_CODENAME=trixie\nID=debian\n'
    ),
    "/etc/hosts": "127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n",
    "/etc/network/interfaces": "auto lo\niface lo inet loopback\n",
    "/etc/ssh/sshd_config": "Include /etc/ssh/sshd_config.d/*.conf\n"
    "KbdInteractiveAuthentication no\nUsePAM yes\nX11Forwarding yes\n",
    "/etc/apt/sources.list.d/debian.sources": (
        "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: trixie trixie-updates\n"
        "Components: main contrib\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
        "Types: deb\nURIs: http://security.debian.org/debian-security\nSuites: trixie-security\n"
        "Components: main contrib\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
    ),
    "/usr/lib/systemd/system-preset/90-systemd.preset": "enable *\n",
    "/var/log/dpkg.log": "2025-10-04 12:00:00 status installed openssh-server:amd64 1:10.0p1-7\n",
    "/var/log/apt/history.log": "Start-Date: 2025-10-04  12:00:00\n",
    "/var/lib/systemd/random-seed": "template-random-seed\n",
}

_LINKS = {
    "/bin": "usr/bin",
    "/sbin": "usr/sbin",
    "/lib": "usr/lib",
    "/etc/os-release": "../usr/lib/os-release",
    "/var/lib/dbus/machine-id": "/etc/machine-id",
    "/etc/systemd/system/sshd.service": "/usr/lib/systemd/system/ssh.service",
}


def install_package_files(fs: VirtualFS, name: str) -> None:
    """Unpack a package's binaries and unit files (what dpkg does before postinst)."""
    pkg = catalog.CATALOG[name]
    for path in pkg.binaries:
        fs.put(path, Node(FILE, f"simulated binary from {name}\n", 0o755), parents=True)
    for unit_name, text in pkg.units.items():
        fs.put(posixpath.join("/usr/lib/systemd/system", unit_name), Node(FILE, text), parents=True)


@functools.lru_cache(maxsize=1)
def base_image() -> dict[str, Node]:
    """The template's nodes. Shared by all guests; treat as read-only."""
    fs = VirtualFS()
    for d in _DIRS:
        fs.put(d, Node(DIR, mode=0o755), parents=True)
    fs.put("/tmp", Node(DIR, mode=0o1777))
    fs.put("/dev/null", Node(FILE, "", 0o666))
    for path, text in _FILES.items():
        fs.put(path, Node(FILE, text), parents=True)
    for path, target in _LINKS.items():
        fs.put(path, Node(LINK, target, 0o777), parents=True)
    for name in catalog.TEMPLATE_PACKAGES:
        install_package_files(fs, name)
    # Debian's postinsts enabled these at image build time (deb-systemd-helper enable).
    for name in ("ssh.service", "sshd-keygen.service", "networking.service", "cron.service"):
        unit = units.find_unit(fs, name)
        assert unit is not None
        units.enable(fs, unit)
    return dict(fs.nodes)


def template_packages() -> dict[str, str]:
    """Installed packages of the template, name → version."""
    return {n: catalog.CATALOG[n].version for n in catalog.TEMPLATE_PACKAGES}


def write_lazy_host_keys(fs: VirtualFS, comment: str, types: tuple[str, ...]) -> None:
    """Place key pairs that get their real material on first read (see ``fs`` module)."""
    for key_type in types:
        path = hostkeys.host_key_path(key_type)
        fs.put(path, Node(FILE, mode=0o600, lazy_key=key_type, comment=comment))
        fs.put(path + ".pub", Node(FILE, mode=0o644, lazy_key=key_type, comment=comment))


def create_from_template(fs: VirtualFS, hostname: str, ssh_public_keys: str = "") -> None:
    """PVE's post-create hook on a freshly extracted template (``pct create``)."""
    # Base.pm clear_machine_id: unlink (not truncate), so that the first boot happens.
    if fs.lookup("/etc/machine-id", follow_last=False) is not None:
        fs.remove("/etc/machine-id")
    # Setup.pm rewrite_ssh_host_keys: remove old keys, generate fresh ones host-side.
    for path in fs.glob("/etc/ssh/ssh_host_*"):
        fs.remove(path)
    write_lazy_host_keys(fs, f"root@{hostname}", hostkeys.KEY_TYPES)
    if ssh_public_keys:
        fs.mkdir("/root/.ssh", parents=True, mode=0o700)
        fs.write("/root/.ssh/authorized_keys", ssh_public_keys.rstrip("\n") + "\n", mode=0o600)
