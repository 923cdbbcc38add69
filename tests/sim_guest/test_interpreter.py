"""The guest command interpreter: each imitated command, its exit codes and messages."""

from __future__ import annotations

import pytest

from felhom_provider.sim.guest.model import GuestModel
from tests.sim_guest.helpers import DOCKER_SOURCES, created_guest, install_docker, run, sh, start


@pytest.fixture
def guest() -> GuestModel:
    return start(created_guest())


@pytest.mark.parametrize(
    "argv",
    [["ls", "--color=always", "/"], ["systemctl", "edit", "ssh"], ["apt-get", "purge", "x"],
     ["systemctl", "mask", "ssh"], ["sh", "-c", "echo $HOME"], ["sh", "-c", "sleep 1 &"],
     ["ssh-keygen", "-t", "ed25519"]],
)  # fmt: skip
def test_anything_else_exits_127_and_says_so(guest: GuestModel, argv: list[str]) -> None:
    res = run(guest, *argv)
    assert res.code == 127
    assert "not imitated by the simulator" in res.stderr


def test_imitated_program_that_is_not_installed_is_not_found(guest: GuestModel) -> None:
    res = run(guest, "docker", "info", "--format", "{{.Driver}}")
    assert res.code == 127 and 'Failed to exec "docker"' in res.stderr
    res = sh(guest, "curl -fsSL https://download.docker.com/linux/debian/gpg")
    assert res == res.__class__(127, "", "sh: 1: curl: not found\n")


def test_sequences_and_conditionals(guest: GuestModel) -> None:
    assert sh(guest, "false_cmd=1 true && echo yes || echo no").stdout == "yes\n"
    assert sh(guest, "test -e /nope && echo yes || echo no").stdout == "no\n"
    res = sh(guest, "cat /nope; echo after")
    assert res.code == 0 and res.stdout == "after\n" and "cat: /nope: No such file" in res.stderr
    res = run(guest, "sh", "-ec", "cat /nope; echo after")
    assert res.code == 1 and res.stdout == ""


def test_redirections_and_pipes(guest: GuestModel) -> None:
    assert sh(guest, "echo one > /root/f; echo two >> /root/f").code == 0
    assert run(guest, "cat", "/root/f").stdout == "one\ntwo\n"
    assert sh(guest, ": > /root/f").code == 0 and guest.fs.read("/root/f") == ""
    assert sh(guest, "cat < /etc/hostname").stdout == "felhom-golden\n"
    assert (
        sh(guest, "echo hi | tee /root/g").stdout == "hi\n" and guest.fs.read("/root/g") == "hi\n"
    )
    assert sh(guest, "cat /nope 2>/dev/null").stderr == ""
    assert sh(guest, "cat /nope 2>&1").stdout.startswith("cat: /nope")
    res = sh(guest, "echo x > /no/dir/f")
    assert res.code == 2 and "cannot create /no/dir/f" in res.stderr


def test_quotes_and_globs(guest: GuestModel) -> None:
    assert sh(guest, "echo 'a  b' \"c d\" e\\ f").stdout == "a  b c d e f\n"
    assert sh(guest, "echo /etc/ssh/ssh_host_ed*").stdout.split() == [
        "/etc/ssh/ssh_host_ed25519_key",
        "/etc/ssh/ssh_host_ed25519_key.pub",
    ]
    assert sh(guest, "echo '/etc/ssh/*'").stdout == "/etc/ssh/*\n"
    assert sh(guest, "echo /none/*").stdout == "/none/*\n"  # dash keeps an unmatched pattern
    # Without a shell nothing is expanded: rm -f of the literal name silently does nothing.
    assert run(guest, "rm", "-f", "/etc/ssh/ssh_host_*").code == 0
    assert guest.fs.exists("/etc/ssh/ssh_host_rsa_key")


def test_file_commands_report_like_coreutils(guest: GuestModel) -> None:
    res = run(guest, "rm", "/nope")
    assert (res.code, res.stderr) == (1, "rm: cannot remove '/nope': No such file or directory\n")
    assert run(guest, "rm", "/var/log").stderr == "rm: cannot remove '/var/log': Is a directory\n"
    assert run(guest, "rm", "-f", "/nope").code == 0
    assert run(guest, "truncate", "-s", "0", "/etc/machine-id").code == 0
    assert guest.fs.read("/etc/machine-id") == ""
    res = run(guest, "truncate", "-s", "0", "/no/such")
    assert res.code == 1 and "cannot open '/no/such' for writing" in res.stderr
    res = run(guest, "ln", "-s", "/etc/machine-id", "/var/lib/dbus/machine-id")
    assert res.code == 1 and "File exists" in res.stderr
    assert run(guest, "ln", "-sf", "/etc/machine-id", "/var/lib/dbus/machine-id").code == 0
    assert run(guest, "test", "-L", "/var/lib/dbus/machine-id").code == 0
    assert run(guest, "test", "-s", "/etc/machine-id").code == 1
    assert run(guest, "[", "-d", "/etc", "]").code == 0
    assert run(guest, "test", "!", "-e", "/nope").code == 0
    assert run(guest, "install", "-m", "0600", "/dev/stdin", "/root/secret", stdin="s").code == 0
    assert guest.fs.lookup("/root/secret") is not None
    assert guest.fs.nodes["/root/secret"].mode == 0o600
    assert run(guest, "chmod", "a+r", "/root/secret").code == 0
    assert guest.fs.nodes["/root/secret"].mode == 0o644
    assert run(guest, "mkdir", "-p", "/a/b/c").code == 0 and guest.fs.is_dir("/a/b/c")


def test_systemctl_verbs_and_codes(guest: GuestModel) -> None:
    assert run(guest, "systemctl", "is-active", "ssh", "cron").stdout == "active\nactive\n"
    res = run(guest, "systemctl", "start", "nope")
    assert res.code == 5 and "Unit nope.service not found." in res.stderr
    assert run(guest, "systemctl", "status", "nope").code == 4
    assert run(guest, "systemctl", "stop", "cron").code == 0
    assert run(guest, "systemctl", "is-active", "cron").code == 3
    assert run(guest, "systemctl", "restart", "sshd").code == 0  # the Alias= of ssh.service
    assert run(guest, "systemctl", "disable", "cron").stderr.startswith("Removed '/etc/systemd")
    assert "disabled" in run(guest, "systemctl", "status", "cron").stdout
    assert run(guest, "systemctl", "daemon-reload").code == 0


def test_ssh_keygen_all_and_fingerprint(guest: GuestModel) -> None:
    assert run(guest, "ssh-keygen", "-A").stdout == ""  # nothing missing: silent
    sh(guest, "rm -f /etc/ssh/ssh_host_rsa_key /etc/ssh/ssh_host_rsa_key.pub")
    res = run(guest, "ssh-keygen", "-A")
    assert res.stdout == "ssh-keygen: generating new host keys: RSA \n"
    line = run(guest, "ssh-keygen", "-l", "-f", "/etc/ssh/ssh_host_rsa_key.pub").stdout
    assert line.startswith("3072 SHA256:") and line.endswith(" root@felhom-golden (RSA)\n")
    res = run(guest, "ssh-keygen", "-lf", "/nope")
    assert res.code == 255 and "No such file" in res.stderr


def test_apt_needs_lists_a_signed_docker_repo_and_yes(guest: GuestModel) -> None:
    res = run(guest, "apt-get", "install", "-y", "curl")
    assert (res.code, res.stderr) == (100, "E: Unable to locate package curl\n")
    assert run(guest, "apt-get", "update").code == 0
    res = run(guest, "apt-get", "install", "curl")
    assert res.code == 1 and res.stdout.endswith("Do you want to continue? [Y/n] Abort.\n")
    run(guest, "install", "-m", "0644", "/dev/stdin", "/etc/apt/sources.list.d/docker.sources",
        stdin=DOCKER_SOURCES)  # fmt: skip
    res = run(guest, "apt-get", "update")
    assert res.code == 100 and "NO_PUBKEY" in res.stderr and "is not signed" in res.stderr
    res = run(guest, "apt-get", "install", "-y", "docker-ce")
    assert res.code == 100 and "Unable to locate package docker-ce" in res.stderr


def test_curl_has_no_network(guest: GuestModel) -> None:
    run(guest, "apt-get", "update")
    run(guest, "apt-get", "install", "-y", "curl")
    res = run(guest, "curl", "-fsSL", "https://example.invalid/x")
    assert res.code == 6 and "Could not resolve host: example.invalid" in res.stderr


def test_docker_install_enables_and_starts_units_and_clean_empties_cache(guest: GuestModel) -> None:
    install_docker(guest)
    assert guest.packages["docker-ce"].startswith("5:")
    assert guest.packages["openssh-server"] == "1:10.0p1-7"
    assert run(guest, "systemctl", "is-active", "docker", "containerd").code == 0
    assert guest.fs.glob("/var/cache/apt/archives/*.deb")
    assert (
        run(guest, "docker", "run", "--rm", "hello-world").stdout.count("Hello from Docker!") == 1
    )
    assert "not imitated" in run(guest, "docker", "compose", "up").stderr
    res = run(guest, "systemctl", "stop", "docker", "containerd")
    assert res.code == 0 and "triggering units are still active" in res.stderr
    assert run(guest, "apt-get", "clean").code == 0
    assert not guest.fs.glob("/var/cache/apt/archives/*.deb")
