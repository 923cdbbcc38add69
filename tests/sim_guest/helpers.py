"""Helpers for the pure guest-model tests: build, boot and drive a guest without the API."""

from __future__ import annotations

from felhom_provider.sim.guest import boot, shell, template
from felhom_provider.sim.guest.model import CtFacts, GuestModel
from felhom_provider.sim.guest.registry import Result

GOLDEN_MAC = "BC:24:11:63:43:F4"


def created_guest(hostname: str = "felhom-golden") -> GuestModel:
    """A guest as `pct create` from the Debian 13 template leaves it (stopped)."""
    model = GuestModel.from_template()
    template.create_from_template(model.fs, hostname)
    return GuestModel.from_payload(model.to_payload())


def facts(
    vmid: int = 9100,
    hostname: str = "felhom-golden",
    *,
    mac: str = GOLDEN_MAC,
    nesting: bool = True,
    keyctl: bool = True,
    unprivileged: bool = True,
) -> CtFacts:
    """CT facts as the config would give them."""
    return CtFacts(vmid, hostname, unprivileged, nesting, keyctl, {"eth0": mac})


def start(model: GuestModel, ct: CtFacts | None = None, ip: str = "127.77.0.2") -> GuestModel:
    """Boot the guest (round-tripping the payload, as the simulator stores it)."""
    boot.start(model, ct or facts(), ip)
    return GuestModel.from_payload(model.to_payload())


def run(model: GuestModel, *argv: str, stdin: str = "") -> Result:
    """`pct exec` argv."""
    return shell.run(model, list(argv), stdin)


def sh(model: GuestModel, script: str, stdin: str = "") -> Result:
    """`pct exec -- sh -c script`."""
    return shell.run(model, ["sh", "-c", script], stdin)


DOCKER_SOURCES = (
    "Types: deb\nURIs: https://download.docker.com/linux/debian\nSuites: trixie\n"
    "Components: stable\nSigned-By: /etc/apt/keyrings/docker.asc\n"
)

IDENTITY_CLEAN = (
    "systemctl stop docker containerd; apt-get clean; rm -rf /var/lib/apt/lists/*; "
    "rm -f /etc/ssh/ssh_host_*; truncate -s 0 /etc/machine-id; "
    "rm -f /var/lib/dbus/machine-id; ln -sf /etc/machine-id /var/lib/dbus/machine-id; "
    "rm -rf /var/log/*; : > /root/.bash_history; rm -f /etc/hostname"
)


def install_docker(model: GuestModel) -> None:
    """Seed §2 step 2 inside a running guest; asserts every step succeeds."""
    steps: list[tuple[list[str], str]] = [
        (["apt-get", "update"], ""),
        (["apt-get", "install", "-y", "ca-certificates", "curl"], ""),
        (["install", "-m", "0755", "-d", "/etc/apt/keyrings"], ""),
        (
            ["curl", "-fsSL", "https://download.docker.com/linux/debian/gpg", "-o",
             "/etc/apt/keyrings/docker.asc"],
            "",
        ),
        (["chmod", "a+r", "/etc/apt/keyrings/docker.asc"], ""),
        (["install", "-m", "0644", "/dev/stdin", "/etc/apt/sources.list.d/docker.sources"],
         DOCKER_SOURCES),
        (["apt-get", "update"], ""),
        (["apt-get", "install", "-y", "docker-ce", "docker-ce-cli", "containerd.io"], ""),
    ]  # fmt: skip
    for argv, stdin in steps:
        res = shell.run(model, argv, stdin)
        assert res.code == 0, (argv, res)
