"""``gpg --show-keys --with-colons`` and the key file the simulated Docker URL serves."""

from __future__ import annotations

import pytest

from felhom_provider.reconcile import golden_steps as recipe
from felhom_provider.sim.guest import cmd_gpg
from felhom_provider.sim.guest.model import GuestModel
from tests.sim_guest.helpers import created_guest, run, start

KEY = "/tmp/docker.asc"


@pytest.fixture
def guest() -> GuestModel:
    """A running template guest with curl and gpg installed from the Debian mirror."""
    model = start(created_guest())
    assert run(model, "apt-get", "update").code == 0
    assert run(model, "apt-get", "install", "-y", "curl", "gpg").code == 0
    return model


def test_gpg_is_not_in_the_template_and_comes_with_package_gpg() -> None:
    model = start(created_guest())
    assert "gpg" not in model.packages
    assert run(model, "gpg", "--show-keys", "--with-colons", KEY).code == 127
    run(model, "apt-get", "update")
    assert run(model, "apt-get", "install", "-y", "gpg").code == 0
    assert model.fs.is_file("/usr/bin/gpg")


def test_docker_key_lists_in_gnupg_colon_format(guest: GuestModel) -> None:
    assert run(guest, "curl", "-fsSL", recipe.DOCKER_GPG_URL, "-o", KEY).code == 0
    assert guest.fs.read(KEY).startswith("-----BEGIN PGP PUBLIC KEY BLOCK-----\n")
    res = run(guest, "gpg", "--show-keys", "--with-colons", KEY)
    assert res.code == 0
    assert res.stderr == "gpg: directory '/root/.gnupg' created\n"
    records = [line.split(":") for line in res.stdout.splitlines()]
    assert [r[0] for r in records] == ["pub", "fpr", "uid", "sub", "fpr"]
    pub, fpr, uid, sub, sub_fpr = records
    # GnuPG doc/DETAILS: field 3 length, 4 algorithm, 5 key id, 6 created, 10 fpr / user id.
    assert pub[2:6] == ["4096", "1", "8D81803C0EBFCD88", "1487788586"]
    assert fpr[9] == "9DC858229FC7DD38854AE2D88D81803C0EBFCD88"
    assert uid[9] == "Docker Release (CE deb) <docker@docker.com>"
    assert (sub[4], sub_fpr[9][-16:]) == ("7EA0A9C3F273FCD8", "7EA0A9C3F273FCD8")
    assert res.stdout.splitlines()[1] == "fpr:::::::::9DC858229FC7DD38854AE2D88D81803C0EBFCD88:"
    assert recipe.primary_fingerprints(res.stdout) == [recipe.DOCKER_KEY_FINGERPRINT]
    # The home directory exists now: no second notice.
    assert guest.fs.is_dir("/root/.gnupg")
    assert run(guest, "gpg", "--show-keys", "--with-colons", KEY).stderr == ""


def test_a_test_can_serve_a_tampered_key(guest: GuestModel) -> None:
    with cmd_gpg.serving_docker_keys(cmd_gpg.IMPOSTOR_KEY):
        run(guest, "curl", "-fsSL", recipe.DOCKER_GPG_URL, "-o", KEY)
    res = run(guest, "gpg", "--show-keys", "--with-colons", KEY)
    assert recipe.primary_fingerprints(res.stdout) == [cmd_gpg.IMPOSTOR_KEY.fingerprint]
    # Outside the block the genuine key is served again.
    assert cmd_gpg.served_docker_keys() == (cmd_gpg.DOCKER_RELEASE_KEY,)
    with cmd_gpg.serving_docker_keys(cmd_gpg.DOCKER_RELEASE_KEY, cmd_gpg.IMPOSTOR_KEY):
        both = run(guest, "curl", "-fsSL", recipe.DOCKER_GPG_URL).stdout
    listing = run(guest, "gpg", "--show-keys", "--with-colons", stdin=both).stdout
    assert recipe.primary_fingerprints(listing) == [
        cmd_gpg.DOCKER_RELEASE_KEY.fingerprint,
        cmd_gpg.IMPOSTOR_KEY.fingerprint,
    ]


def test_gpg_errors_and_gaps(guest: GuestModel) -> None:
    res = run(guest, "gpg", "--show-keys", "--with-colons", "/nonexistent.asc")
    assert res.code == 2 and "gpg: can't open '/nonexistent.asc': No such file" in res.stderr
    guest.fs.write(KEY, "<html>404 Not Found</html>\n")
    res = run(guest, "gpg", "--show-keys", "--with-colons", KEY)
    assert (res.code, res.stderr.splitlines()[-1]) == (2, "gpg: no valid OpenPGP data found.")
    assert run(guest, "gpg", "--show-keys", KEY).code == 127  # human listing: not imitated
    assert run(guest, "gpg", "--import", KEY).code == 127
