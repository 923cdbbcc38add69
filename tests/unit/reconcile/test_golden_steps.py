"""The golden recipe as data: the root create, Docker, the keygen unit, identity clean."""

from __future__ import annotations

import pytest

from felhom_provider.errors import ConfigError
from felhom_provider.reconcile import golden_steps as recipe
from felhom_provider.reconcile.model import GoldenSpec

SPEC = GoldenSpec(
    name="golden", owner="felhom/dev/golden", node="pve",
    template="local:vztmpl/debian-13-standard_13.1-2_amd64.tar.zst",
)  # fmt: skip


def test_create_argv_is_the_seed_command_plus_the_marker() -> None:
    argv = recipe.create_argv(SPEC, 9100)
    assert argv[:4] == ["pct", "create", "9100", SPEC.template]
    opts = dict(zip(argv[4::2], argv[5::2], strict=True))
    assert opts == {
        "--hostname": "felhom-golden",
        "--unprivileged": "1",
        "--features": "nesting=1,keyctl=1",
        "--rootfs": "local-lvm:8",
        "--cores": "2",
        "--memory": "2048",
        "--net0": "name=eth0,bridge=vmbr0,ip=dhcp",
        "--onboot": "0",
        "--description": "felhom-owner=felhom/dev/golden",
    }


def test_docker_install_uses_the_official_repo_and_the_seed_packages() -> None:
    steps = {name: (argv, stdin) for name, argv, stdin in recipe.docker_install()}
    install = steps["docker-install"][0]
    assert install[:2] == ("sh", "-c")
    assert install[2].endswith("install docker-ce docker-ce-cli containerd.io")
    for name in ("apt-update", "apt-prereqs", "apt-update-docker", "docker-install"):
        assert steps[name][0][2].startswith("DEBIAN_FRONTEND=noninteractive apt-get -y"), name
    sources = steps["docker-repo"][1] or ""
    assert "Suites: trixie" in sources and f"Signed-By: {recipe.DOCKER_KEYRING}" in sources
    order = list(steps)
    assert order.index("keyring") < order.index("apt-update-docker") < order.index("docker-install")


def test_keygen_unit_runs_before_ssh_when_the_key_is_missing() -> None:
    unit = recipe.KEYGEN_UNIT
    for line in (
        "ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key",
        "Before=ssh.service sshd.service",
        "ExecStart=/usr/bin/ssh-keygen -A",
        "WantedBy=multi-user.target",
    ):
        assert line in unit.splitlines()
    assert "ConditionFirstBoot" not in unit  # an empty machine-id is not a first boot
    names = [argv for _, argv, _ in recipe.bake_keygen_unit()]
    assert ("systemctl", "enable", recipe.KEYGEN_UNIT_NAME) in names


@pytest.mark.parametrize(
    "needle",
    [
        "rm -rf /var/lib/apt/lists/*",
        "rm -f /etc/ssh/ssh_host_*",
        "truncate -s 0 /etc/machine-id",
        "ln -sf /etc/machine-id /var/lib/dbus/machine-id",
        "rm -rf /var/lib/dhcp/* /var/lib/dhclient/* /var/lib/dhcpcd/*",
        "rm -rf /var/lib/systemd/network/*",
        "rm -f /var/lib/docker/engine-id",
        "rm -rf /root/.ssh",
        "rm -f /var/lib/systemd/random-seed /var/lib/systemd/credential.secret",
        "rm -f /root/.bash_history /home/*/.bash_history",
        "rm -f /etc/hostname",
        "rm -rf /var/log/*",
        "apt-get clean",
    ],
)
def test_identity_clean_covers(needle: str) -> None:
    commands = [" ".join(argv[2:] if argv[0] == "sh" else argv)
                for _, argv, _ in recipe.identity_clean()]  # fmt: skip
    assert needle in commands


def test_logs_are_cleaned_last_and_docker_stopped_first() -> None:
    names = [name for name, _, _ in recipe.identity_clean()]
    assert names[0] == "stop-docker" and names[-1] == "logs"


@pytest.mark.parametrize(
    ("log", "version"),
    [
        ("2025-10-04 12:00:00 status installed openssh-server:amd64 1:10.0p1-7\n", "1:10.0p1-7"),
        ("x status installed openssh-client:amd64 1:9\n", ""),
        ("a status installed openssh-server:amd64 1:9\n"
         "b status installed openssh-server:amd64 1:10\n", "1:10"),
    ],
)  # fmt: skip
def test_openssh_version_from_dpkg_log(log: str, version: str) -> None:
    assert recipe.openssh_from_dpkg_log(log) == version


def test_notes_round_trip() -> None:
    line = recipe.notes_line("o/s/g", "overlayfs", "1:10.0p1-7")
    assert recipe.parse_notes(line) == {
        "owner": "o/s/g",
        "docker": "overlayfs",
        "openssh": "1:10.0p1-7",
    }
    assert recipe.parse_notes("something else") == {}


def test_the_archive_is_named_by_its_own_task_log() -> None:
    log = [
        {"n": 1, "t": "INFO: starting new backup job: vzdump 9000 --storage local"},
        {"n": 2, "t": "INFO: creating vzdump archive '/var/lib/vz/dump/vzdump-lxc-9000-x.tar.zst'"},
    ]
    assert recipe.archive_from_log(log, "local") == "local:backup/vzdump-lxc-9000-x.tar.zst"
    assert recipe.archive_from_log(log[:1], "local") is None


def test_build_vmid_comes_from_the_reserved_range() -> None:
    spec = GoldenSpec.from_inputs(
        {"name": "golden", "owner": "p/s/golden", "node": "pve", "template": "local:t"}
    )
    assert spec.reserved(9000) and spec.reserved(9099) and not spec.reserved(9100)
    with pytest.raises(ConfigError, match="reservedVmids"):
        GoldenSpec(name="g", owner="p/s/g", node="pve", template="local:t", build_vmid=150)
