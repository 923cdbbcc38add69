"""The golden recipe as data: the root create, Docker, the keygen unit, identity clean."""

from __future__ import annotations

import pytest

from felhom_provider.errors import ConfigError, VerificationError
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
        "rm -rf /root/.gnupg",
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


def test_docker_key_is_checked_after_download_and_before_apt_trusts_it() -> None:
    steps = {name: argv for name, argv, _ in recipe.docker_install()}
    order = list(steps)
    assert steps["apt-prereqs"][2].endswith("install ca-certificates curl gpg")
    assert steps["keyring-download"] == (
        "curl", "-fsSL", recipe.DOCKER_GPG_URL, "-o", recipe.DOCKER_KEY_DOWNLOAD
    )  # fmt: skip
    assert steps[recipe.KEY_CHECK_STEP] == (
        "gpg", "--show-keys", "--with-colons", recipe.DOCKER_KEY_DOWNLOAD
    )  # fmt: skip
    assert steps["keyring"] == (
        "install", "-m", "0644", recipe.DOCKER_KEY_DOWNLOAD, recipe.DOCKER_KEYRING
    )  # fmt: skip
    assert (
        order.index("keyring-download")
        < order.index(recipe.KEY_CHECK_STEP)
        < order.index("keyring")
        < order.index("apt-update-docker")
    )
    # Nothing before the check writes the keyring apt reads.
    before = order[: order.index(recipe.KEY_CHECK_STEP)]
    assert not any(recipe.DOCKER_KEYRING in steps[name] for name in before)


#: ``gpg --show-keys --with-colons`` of Docker's key (GnuPG doc/DETAILS colon records).
DOCKER_COLONS = (
    "pub:-:4096:1:8D81803C0EBFCD88:1487788586:::-:::scSC:\n"
    "fpr:::::::::9DC858229FC7DD38854AE2D88D81803C0EBFCD88:\n"
    "uid:-::::1487788586::::Docker Release (CE deb) <docker@docker.com>:\n"
    "sub:-:4096:1:7EA0A9C3F273FCD8:1487788586:::::::s:\n"
    "fpr:::::::::D3306A018370199E527AE7997EA0A9C3F273FCD8:\n"
)
OTHER_COLONS = (
    "pub:-:4096:1:F0D9E3B76C25A41D:1700000000:::-:::scSC:\n"
    "fpr:::::::::5A1B4C8E2D7F90631E4B8C2AF0D9E3B76C25A41D:\n"
)


@pytest.mark.parametrize(
    ("colons", "found"),
    [
        (DOCKER_COLONS, ["9DC858229FC7DD38854AE2D88D81803C0EBFCD88"]),
        (DOCKER_COLONS + OTHER_COLONS,
         ["9DC858229FC7DD38854AE2D88D81803C0EBFCD88", "5A1B4C8E2D7F90631E4B8C2AF0D9E3B76C25A41D"]),
        (DOCKER_COLONS.lower(),
         ["9DC858229FC7DD38854AE2D88D81803C0EBFCD88"]),
        ("", []),
        # A subkey's fpr is not a primary fingerprint.
        ("sub:-:4096:1:7EA0A9C3F273FCD8:1:::::::s:\nfpr:::::::::D3306A01:\n", []),
    ],
)  # fmt: skip
def test_primary_fingerprints(colons: str, found: list[str]) -> None:
    assert recipe.primary_fingerprints(colons) == found


def test_docker_key_check_accepts_dockers_key() -> None:
    recipe.check_docker_key(DOCKER_COLONS)


@pytest.mark.parametrize(
    ("colons", "shown"),
    [
        (OTHER_COLONS, "5A1B 4C8E 2D7F 9063 1E4B  8C2A F0D9 E3B7 6C25 A41D"),
        (DOCKER_COLONS + OTHER_COLONS, "9DC8 5822 9FC7 DD38 854A  E2D8 8D81 803C 0EBF CD88, 5A1B"),
        ("", "found no key"),
    ],
)
def test_docker_key_check_refuses_anything_else_naming_both(colons: str, shown: str) -> None:
    with pytest.raises(VerificationError) as info:
        recipe.check_docker_key(colons)
    text = str(info.value)
    assert "expected fingerprint 9DC8 5822 9FC7 DD38 854A  E2D8 8D81 803C 0EBF CD88" in text
    assert shown in text
    assert info.value.context["step"] == recipe.KEY_CHECK_STEP
