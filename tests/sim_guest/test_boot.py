"""Boot semantics: PVE's hostname write, machine-id first-boot rules, units, Docker gates."""

from __future__ import annotations

import re

from felhom_provider.sim.guest import boot
from felhom_provider.sim.guest.model import GuestModel
from tests.sim_guest.helpers import (
    IDENTITY_CLEAN,
    created_guest,
    facts,
    install_docker,
    run,
    sh,
    start,
)

KEYGEN_UNIT = """[Unit]
Description=Regenerate SSH host keys when missing
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key
Before=ssh.service

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
"""


def stopped_copy(model: GuestModel) -> GuestModel:
    boot.stop(model)
    return GuestModel.from_payload(model.to_payload())


def test_created_ct_first_boot_runs_sshd_keygen_and_commits_machine_id() -> None:
    model = created_guest()
    assert not model.fs.exists("/etc/machine-id")  # PVE's clear_machine_id unlinks it
    model = start(model)
    assert model.runtime is not None and model.runtime.first_boot
    assert model.runtime.units["sshd-keygen.service"].active == "active"
    assert run(model, "systemctl", "is-active", "ssh").stdout == "active\n"
    assert re.fullmatch(r"[0-9a-f]{32}\n", run(model, "cat", "/etc/machine-id").stdout)
    assert run(model, "hostname").stdout == "felhom-golden\n"


def test_uninitialized_machine_id_means_first_boot() -> None:
    model = created_guest()
    model.fs.write("/etc/machine-id", "uninitialized\n")
    model.fs.remove("/etc/ssh/ssh_host_rsa_key")
    model = start(model)
    assert model.runtime is not None and model.runtime.first_boot
    assert model.fs.is_file("/etc/ssh/ssh_host_rsa_key")  # sshd-keygen's ssh-keygen -A


def test_empty_machine_id_is_not_first_boot_and_gets_a_fresh_id() -> None:
    model = created_guest()
    model.fs.write("/etc/machine-id", "")
    for path in model.fs.glob("/etc/ssh/ssh_host_*"):
        model.fs.remove(path)
    model = start(model)
    assert model.runtime is not None and not model.runtime.first_boot
    assert model.runtime.units["sshd-keygen.service"].result == "condition"
    assert model.runtime.units["ssh.service"].active == "failed"
    assert len(model.fs.read("/etc/machine-id").strip()) == 32


def test_empty_machine_id_takes_a_real_dbus_file_but_not_a_symlink() -> None:
    model = created_guest()
    model.fs.write("/etc/machine-id", "")
    model.fs.remove("/var/lib/dbus/machine-id")
    model.fs.write("/var/lib/dbus/machine-id", "0123456789abcdef0123456789abcdef\n")
    model = start(model)
    assert model.fs.read("/etc/machine-id").strip() == "0123456789abcdef0123456789abcdef"


def test_valid_machine_id_is_kept_across_boots() -> None:
    model = start(created_guest())
    first = model.fs.read("/etc/machine-id")
    model = start(stopped_copy(model))
    assert model.fs.read("/etc/machine-id") == first
    assert model.runtime is not None and not model.runtime.first_boot


def test_pve_writes_hostname_at_every_start() -> None:
    model = start(created_guest())
    model.fs.remove("/etc/hostname")
    model = start(stopped_copy(model), facts(hostname="renamed"))
    assert model.fs.read("/etc/hostname") == "renamed\n"
    assert run(model, "hostname").stdout == "renamed\n"
    assert "127.0.1.1\trenamed" in model.fs.read("/etc/hosts")


def test_ssh_fails_without_keys_and_sshd_t_explains_why() -> None:
    model = start(created_guest())
    assert sh(model, "rm -f /etc/ssh/ssh_host_*").code == 0
    res = sh(model, "systemctl restart ssh")
    assert res.code == 1 and "Job for ssh.service failed" in res.stderr
    status = run(model, "systemctl", "status", "ssh")
    assert status.code == 3 and "Active: failed (Result: exit-code)" in status.stdout
    assert run(model, "systemctl", "is-active", "ssh").code == 3


def test_baked_oneshot_unit_generates_keys_before_ssh() -> None:
    model = start(created_guest())
    install_docker(model)
    path = "/etc/systemd/system/felhom-ssh-keygen.service"
    assert run(model, "install", "-m", "0644", "/dev/stdin", path, stdin=KEYGEN_UNIT).code == 0
    enable = run(model, "systemctl", "enable", "felhom-ssh-keygen.service")
    assert enable.code == 0 and "multi-user.target.wants/felhom-ssh-keygen.service" in enable.stderr
    assert sh(model, IDENTITY_CLEAN).code == 0
    golden = stopped_copy(model).to_payload()
    prints = []
    for n, ip in enumerate(("127.77.0.5", "127.77.0.6")):
        guest = start(GuestModel.from_payload(golden), facts(9200 + n, f"g{n}"), ip)
        assert guest.runtime is not None
        assert guest.runtime.units["felhom-ssh-keygen.service"].result == "success"
        assert run(guest, "systemctl", "is-active", "ssh").stdout == "active\n"
        prints.append(run(guest, "ssh-keygen", "-l", "-f", "/etc/ssh/ssh_host_ed25519_key").stdout)
    assert prints[0] != prints[1]
    assert prints[0].endswith("root@g0 (ED25519)\n")


def test_baked_unit_enabled_by_symlink_also_runs() -> None:
    model = start(created_guest())
    path = "/etc/systemd/system/felhom-ssh-keygen.service"
    run(model, "install", "-m", "0644", "/dev/stdin", path, stdin=KEYGEN_UNIT)
    link = "/etc/systemd/system/multi-user.target.wants/felhom-ssh-keygen.service"
    assert run(model, "ln", "-s", path, link).code == 0
    sh(model, "rm -f /etc/ssh/ssh_host_*; truncate -s 0 /etc/machine-id")
    guest = start(stopped_copy(model))
    assert guest.runtime is not None and guest.runtime.units["ssh.service"].active == "active"


def test_docker_needs_nesting_for_the_daemon_and_keyctl_for_containers() -> None:
    model = start(created_guest())
    install_docker(model)
    assert run(model, "docker", "info", "--format", "{{.Driver}}").stdout == "overlayfs\n"
    image = stopped_copy(model).to_payload()
    no_nesting = start(GuestModel.from_payload(image), facts(nesting=False))
    assert run(no_nesting, "systemctl", "is-active", "docker").stdout == "failed\n"
    assert run(no_nesting, "docker", "run", "--rm", "hello-world").code == 125
    no_keyctl = start(GuestModel.from_payload(image), facts(keyctl=False))
    res = run(no_keyctl, "docker", "run", "--rm", "hello-world")
    assert res.code == 126 and "session keyring" in res.stderr
    privileged = start(GuestModel.from_payload(image), facts(unprivileged=False))
    assert run(privileged, "docker", "run", "--rm", "hello-world").code == 126


def test_dhcp_lease_is_written_by_networking_and_journal_follows_storage() -> None:
    model = start(created_guest(), ip="127.77.0.9")
    lease = model.fs.read("/var/lib/dhcp/dhclient.eth0.leases")
    assert "fixed-address 127.77.0.9;" in lease
    mid = model.fs.read("/etc/machine-id").strip()
    assert "Reached target multi-user.target" in model.fs.read(
        f"/var/log/journal/{mid}/system.journal"
    )
    sh(model, "rm -rf /var/log/*")
    model = start(stopped_copy(model))
    assert not model.fs.exists("/var/log/journal")  # journald falls back to volatile storage
    assert model.runtime is not None and model.runtime.volatile_journal


def test_stop_clears_runtime_and_refreshes_random_seed() -> None:
    model = start(created_guest())
    seed = model.fs.read("/var/lib/systemd/random-seed")
    boot.stop(model)
    assert model.runtime is None and "runtime" not in model.to_payload()
    assert model.fs.read("/var/lib/systemd/random-seed") != seed
