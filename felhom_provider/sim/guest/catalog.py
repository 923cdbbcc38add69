"""The packages a simulated Debian 13 guest can have, with versions, files and units.

Only ``openssh-server 1:10.0p1-7`` is a version observed in the seed; the other versions are
representative of trixie and of Docker's ``trixie stable`` channel and must not be relied on.
Unit file texts are abridged to the settings the boot model reads (see ``units.py``); the
``sshd-keygen.service`` text follows Debian's packaging as described in
design §4.15.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DEBIAN = "deb.debian.org/debian trixie"
SECURITY = "security.debian.org/debian-security trixie-security"
DOCKER = "download.docker.com/linux/debian trixie"

SSH_SERVICE = """[Unit]
Description=OpenBSD Secure Shell server
After=network.target auditd.service
ConditionPathExists=!/etc/ssh/sshd_not_to_be_run

[Service]
ExecStartPre=/usr/sbin/sshd -t
ExecStart=/usr/sbin/sshd -D
Type=notify

[Install]
WantedBy=multi-user.target
Alias=sshd.service
"""

# Debian trixie's first-boot key generation (openssh 1:10.0p1-2 changelog, design §4.15).
SSHD_KEYGEN_SERVICE = """[Unit]
Description=Generate sshd host keys on first boot
ConditionFirstBoot=yes
ConditionPathIsReadWrite=/etc/ssh
ConditionPathIsSymbolicLink=!/etc/ssh
Before=ssh.service sshd.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=ssh-keygen -A

[Install]
WantedBy=ssh.service sshd.service ssh.socket
"""

NETWORKING_SERVICE = """[Unit]
Description=Raise network interfaces
Before=network.target network-online.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/sbin/ifup -a --read-environment

[Install]
WantedBy=multi-user.target network-online.target
"""

CRON_SERVICE = """[Unit]
Description=Regular background program processing daemon

[Service]
ExecStart=/usr/sbin/cron -f

[Install]
WantedBy=multi-user.target
"""

CONTAINERD_SERVICE = """[Unit]
Description=containerd container runtime
After=network.target

[Service]
Type=notify
ExecStart=/usr/bin/containerd

[Install]
WantedBy=multi-user.target
"""

DOCKER_SERVICE = """[Unit]
Description=Docker Application Container Engine
After=network-online.target docker.socket containerd.service
Wants=network-online.target containerd.service
Requires=docker.socket

[Service]
Type=notify
ExecStart=/usr/bin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock

[Install]
WantedBy=multi-user.target
"""

DOCKER_SOCKET = """[Unit]
Description=Docker Socket for the API

[Socket]
ListenStream=/run/docker.sock

[Install]
WantedBy=sockets.target
"""


@dataclass(frozen=True)
class Package:
    """One binary package: where it comes from, what it needs and what it installs."""

    name: str
    version: str
    repo: str
    depends: tuple[str, ...] = ()
    binaries: tuple[str, ...] = ()
    units: dict[str, str] = field(default_factory=dict)


def _pkg(name: str, version: str, repo: str = DEBIAN, **kw: object) -> Package:
    return Package(name, version, repo, **kw)  # type: ignore[arg-type]


_DOCKER_V = "5:28.5.2-1~debian.13~trixie"
CATALOG: dict[str, Package] = {
    p.name: p
    for p in (
        _pkg("apt", "3.0.3", binaries=("/usr/bin/apt-get", "/usr/bin/apt")),
        _pkg("base-files", "13.8+deb13u1"),
        _pkg("bash", "5.2.37-2+b5", binaries=("/usr/bin/bash",)),
        _pkg("dash", "0.5.12-12", binaries=("/usr/bin/sh", "/usr/bin/dash")),
        _pkg("ca-certificates", "20250419"),
        _pkg(
            "coreutils",
            "9.7-3",
            binaries=tuple(
                f"/usr/bin/{b}"
                for b in (
                    "cat",
                    "rm",
                    "ln",
                    "truncate",
                    "test",
                    "[",
                    "install",
                    "chmod",
                    "mkdir",
                    "tee",
                    "echo",
                    "true",
                    "false",
                    "ls",
                    "stat",
                    "wc",
                    "head",
                    "tail",
                    "df",
                    "touch",
                    "whoami",
                    "id",
                )
            ),
        ),
        _pkg(
            "cron", "3.0pl1-197", binaries=("/usr/sbin/cron",), units={"cron.service": CRON_SERVICE}
        ),
        _pkg("dbus", "1.16.2-2"),
        _pkg("grep", "3.11-4", binaries=("/usr/bin/grep",)),
        _pkg("iproute2", "6.15.0-1", binaries=("/usr/bin/ip", "/usr/bin/ss")),
        _pkg("procps", "2:4.0.4-9", binaries=("/usr/bin/ps",)),
        _pkg("dpkg", "1.22.21", binaries=("/usr/bin/dpkg", "/usr/bin/dpkg-query")),
        _pkg("hostname", "3.25", binaries=("/usr/bin/hostname",)),
        _pkg(
            "ifupdown",
            "0.8.44",
            binaries=("/usr/sbin/ifup",),
            units={"networking.service": NETWORKING_SERVICE},
        ),
        _pkg("isc-dhcp-client", "4.4.3-P1-8", binaries=("/usr/sbin/dhclient",)),
        _pkg("openssh-client", "1:10.0p1-7", binaries=("/usr/bin/ssh", "/usr/bin/ssh-keygen")),
        _pkg("openssh-sftp-server", "1:10.0p1-7"),
        _pkg(
            "openssh-server",
            "1:10.0p1-7",
            depends=("openssh-client", "openssh-sftp-server"),
            binaries=("/usr/sbin/sshd",),
            units={"ssh.service": SSH_SERVICE, "sshd-keygen.service": SSHD_KEYGEN_SERVICE},
        ),
        _pkg("systemd", "257.8-1~deb13u2", binaries=("/usr/bin/systemctl", "/usr/bin/journalctl")),
        _pkg("libcurl4t64", "8.14.1-2"),
        _pkg("curl", "8.14.1-2", depends=("libcurl4t64",), binaries=("/usr/bin/curl",)),
        # Debian ships the gpg program in package ``gpg`` (not in the standard template).
        _pkg("gpg", "2.4.7-21", binaries=("/usr/bin/gpg",)),
        _pkg("iptables", "1.8.11-2"),
        _pkg(
            "containerd.io",
            "1.7.28-2~debian.13~trixie",
            DOCKER,
            binaries=("/usr/bin/containerd",),
            units={"containerd.service": CONTAINERD_SERVICE},
        ),
        _pkg("docker-ce-cli", _DOCKER_V, DOCKER, binaries=("/usr/bin/docker",)),
        _pkg(
            "docker-ce",
            _DOCKER_V,
            DOCKER,
            depends=("containerd.io", "docker-ce-cli", "iptables"),
            binaries=("/usr/bin/dockerd",),
            units={"docker.service": DOCKER_SERVICE, "docker.socket": DOCKER_SOCKET},
        ),
        _pkg("docker-buildx-plugin", "0.29.1-1~debian.13~trixie", DOCKER),
        _pkg("docker-compose-plugin", "2.40.3-1~debian.13~trixie", DOCKER),
    )
}

# What debian-13-standard_13.1-2 carries in this model: a subset, no Docker, no curl.
TEMPLATE_PACKAGES: tuple[str, ...] = (
    "apt", "base-files", "bash", "dash", "ca-certificates", "coreutils", "cron", "dbus",
    "dpkg", "hostname", "ifupdown", "isc-dhcp-client", "openssh-client", "openssh-sftp-server",
    "openssh-server", "systemd", "grep", "iproute2", "procps",
)  # fmt: skip


def resolve(names: list[str], installed: dict[str, str]) -> list[str]:
    """Requested packages plus their missing dependencies, dependencies first."""
    order: list[str] = []

    def visit(name: str) -> None:
        if name in order or name in installed:
            return
        for dep in CATALOG[name].depends:
            visit(dep)
        order.append(name)

    for name in names:
        visit(name)
    return order
