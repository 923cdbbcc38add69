"""``reconcile.golden_steps`` exactly: every step of the recipe (its name is the journal's and
the error's ``step``, its argv is what runs in the build CT), and the parsers' edges: gpg's
colon records, the vzdump log line, the archive notes and dpkg's log (mutation-testing gaps)."""

from __future__ import annotations

from typing import Any

import pytest

from felhom_provider.reconcile import golden_steps as recipe

APT = "DEBIAN_FRONTEND=noninteractive apt-get -y -q"
KEY = "/tmp/docker-apt-key.asc"

DOCKER_INSTALL: list[recipe.Step] = [
    ("apt-update", ("sh", "-c", f"{APT} update"), None),
    ("apt-prereqs", ("sh", "-c", f"{APT} install ca-certificates curl gpg"), None),
    ("keyring-dir", ("install", "-m", "0755", "-d", "/etc/apt/keyrings"), None),
    ("keyring-download",
     ("curl", "-fsSL", "https://download.docker.com/linux/debian/gpg", "-o", KEY), None),
    ("keyring-fingerprint", ("gpg", "--show-keys", "--with-colons", KEY), None),
    ("keyring", ("install", "-m", "0644", KEY, "/etc/apt/keyrings/docker.asc"), None),
    ("keyring-download-clean", ("rm", "-f", KEY), None),
    ("docker-repo", ("tee", "/etc/apt/sources.list.d/docker.sources"),
     "Types: deb\nURIs: https://download.docker.com/linux/debian\nSuites: trixie\n"
     "Components: stable\nSigned-By: /etc/apt/keyrings/docker.asc\n"),
    ("apt-update-docker", ("sh", "-c", f"{APT} update"), None),
    ("docker-install", ("sh", "-c", f"{APT} install docker-ce docker-ce-cli containerd.io"), None),
]  # fmt: skip

BAKE_KEYGEN_UNIT: list[recipe.Step] = [
    ("keygen-unit", ("tee", "/etc/systemd/system/felhom-ssh-keygen.service"), recipe.KEYGEN_UNIT),
    ("keygen-enable", ("systemctl", "enable", "felhom-ssh-keygen.service"), None),
]

IDENTITY_CLEAN: list[recipe.Step] = [
    ("stop-docker", ("systemctl", "stop", "docker.socket", "docker", "containerd"), None),
    ("apt-clean", ("apt-get", "clean"), None),
    ("apt-lists", ("sh", "-c", "rm -rf /var/lib/apt/lists/*"), None),
    ("ssh-host-keys", ("sh", "-c", "rm -f /etc/ssh/ssh_host_*"), None),
    ("machine-id", ("truncate", "-s", "0", "/etc/machine-id"), None),
    ("dbus-machine-id", ("rm", "-f", "/var/lib/dbus/machine-id"), None),
    ("dbus-link", ("ln", "-sf", "/etc/machine-id", "/var/lib/dbus/machine-id"), None),
    ("dhcp-leases",
     ("sh", "-c", "rm -rf /var/lib/dhcp/* /var/lib/dhclient/* /var/lib/dhcpcd/*"), None),
    ("networkd-state", ("sh", "-c", "rm -rf /var/lib/systemd/network/*"), None),
    ("docker-engine-id", ("rm", "-f", "/var/lib/docker/engine-id"), None),
    ("root-ssh", ("rm", "-rf", "/root/.ssh"), None),
    ("root-gnupg", ("rm", "-rf", "/root/.gnupg"), None),
    ("random-seed",
     ("rm", "-f", "/var/lib/systemd/random-seed", "/var/lib/systemd/credential.secret"), None),
    ("tmp-files", ("sh", "-c", "rm -rf /tmp/* /var/tmp/*"), None),
    ("shell-history", ("sh", "-c", "rm -f /root/.bash_history /home/*/.bash_history"), None),
    ("hostname-file", ("rm", "-f", "/etc/hostname"), None),
    ("logs", ("sh", "-c", "rm -rf /var/log/*"), None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("steps", "want"),
    [
        (recipe.docker_install, DOCKER_INSTALL),
        (recipe.bake_keygen_unit, BAKE_KEYGEN_UNIT),
        (recipe.identity_clean, IDENTITY_CLEAN),
    ],
    ids=["docker-install", "bake-keygen-unit", "identity-clean"],
)
def test_every_recipe_step_in_order_with_its_exact_command(
    steps: Any, want: list[recipe.Step]
) -> None:
    # The names key the journal and each error's step; the argv run as is in the build CT
    # (``sh -c`` only where a glob or the apt environment needs a shell).
    assert steps() == want


def test_step_names_are_unique_across_the_recipe() -> None:
    names = [
        name
        for steps in (recipe.docker_install, recipe.bake_keygen_unit, recipe.identity_clean)
        for name, _, _ in steps()
    ]
    assert len(names) == len(set(names))


# --- gpg --with-colons: only the fpr record right after a pub is a primary fingerprint -----

FPR = "9DC858229FC7DD38854AE2D88D81803C0EBFCD88"
OTHER = "0123456789ABCDEF0123456789ABCDEF01234567"


def _fpr(fpr: str) -> str:
    return f"fpr:::::::::{fpr}:"  # GnuPG doc/DETAILS: field 10 holds the fingerprint


@pytest.mark.parametrize("record", ["sub", "sec", "ssb", "uid", "uat"])
def test_a_fingerprint_after_any_other_record_than_pub_is_not_primary(record: str) -> None:
    colons = f"pub:-:4096:1:8D81803C0EBFCD88:1487788586:::-:::scESC::::::23::0:\n{record}:u::::\n"
    assert recipe.primary_fingerprints(colons + _fpr(OTHER)) == []
    assert recipe.primary_fingerprints(colons + "pub:-:\n" + _fpr(FPR.lower())) == [FPR]


def test_only_the_first_fpr_after_a_pub_counts() -> None:
    colons = f"pub:-:4096:1:x:1::::\n{_fpr(FPR)}\n{_fpr(OTHER)}\n"
    assert recipe.primary_fingerprints(colons) == [FPR]


def test_records_that_carry_no_key_keep_the_pub_in_force() -> None:
    # ``rvk`` (revocation key) and others do not end the primary key's records.
    colons = f"pub:-:4096:1:x:1::::\nrvk:::1::::::{OTHER}:80:\n{_fpr(FPR)}\n"
    assert recipe.primary_fingerprints(colons) == [FPR]


@pytest.mark.parametrize(
    ("fpr_line", "want"),
    [
        ("fpr::::::::", []),  # 9 fields: no field 10, nothing to read
        (f"fpr:::::::::{FPR}", [FPR]),  # 10 fields: field 10 present without the trailing colon
        (_fpr(FPR), [FPR]),
    ],
)
def test_fpr_record_field_count(fpr_line: str, want: list[str]) -> None:
    assert recipe.primary_fingerprints(f"pub:-:\n{fpr_line}\n") == want


# --- the vzdump log line, the archive notes, dpkg's log --------------------------------------


@pytest.mark.parametrize(
    ("text", "volid"),
    [
        ("INFO: creating vzdump archive '/var/lib/vz/dump/vzdump-lxc-9000-x.tar.zst'",
         "local:backup/vzdump-lxc-9000-x.tar.zst"),
        # The name ends at the closing quote, whatever the line says after it.
        ("INFO: creating vzdump archive '/d/dump/a.tar.zst' (see 'b')", "local:backup/a.tar.zst"),
        # The first marker names the archive.
        ("INFO: creating vzdump archive '/d/a.tar' creating vzdump archive '/d/b.tar'",
         "local:backup/a.tar"),
        # A bare name (no directory) is the name.
        ("INFO: creating vzdump archive 'a.tar.zst'", "local:backup/a.tar.zst"),
    ],
)  # fmt: skip
def test_archive_from_log_reads_the_quoted_path(text: str, volid: str) -> None:
    lines: list[dict[str, Any]] = [{"n": 1, "t": "INFO: starting new backup job"}, {"n": 2}]
    lines.append({"n": 3, "t": text})
    assert recipe.archive_from_log(lines, "local") == volid


@pytest.mark.parametrize("notes", [None, "", "   "])
def test_empty_notes_parse_to_nothing(notes: str | None) -> None:
    assert recipe.parse_notes(notes) == {}


def test_notes_values_may_carry_equals_signs() -> None:
    line = recipe.notes_line("o/s/g", "a=b", "1:10=x")
    assert recipe.parse_notes(line) == {"owner": "o/s/g", "docker": "a=b", "openssh": "1:10=x"}
    assert recipe.parse_notes("felhom-golden stray owner=o") == {"owner": "o"}


@pytest.mark.parametrize(
    "log",
    [
        "2025-10-04 12:00:00 status installed openssh-server:amd64\n",  # no version word
        "installed openssh-server:amd64\n",
    ],
)
def test_a_dpkg_line_without_a_version_is_skipped(log: str) -> None:
    assert recipe.openssh_from_dpkg_log(log) == ""
    full = "x status installed openssh-server:amd64 1:10.0p1-7\n"
    assert recipe.openssh_from_dpkg_log(full + log) == "1:10.0p1-7"
