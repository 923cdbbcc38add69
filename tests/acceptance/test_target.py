"""The acceptance target from ``FELHOM_ACC_*``: which node, which VMIDs, what is missing.

Also checks that docs/acceptance.md documents every variable the code reads and every
scenario the suite runs, so an operator never needs the code.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from felhom_provider.errors import ConfigError
from tests.acceptance.scenarios import scenario_ids
from tests.acceptance.target import (
    OPTIONAL,
    PREFIX,
    TARGET_VARS,
    parse_vmids,
    target_from_env,
    wants_real_node,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "acceptance.md"
FULL = {
    PREFIX + "ENDPOINT": "https://pve-lab.example.invalid:8006",
    PREFIX + "NODE": "pve1",
    PREFIX + "TOKEN_ID": "felhom-acceptance@pve!suite",
    PREFIX + "TOKEN_SECRET": "00000000-1111-2222-3333-444444444444",
    PREFIX + "TLS_FINGERPRINT": ":".join(["AB"] * 32),
    PREFIX + "SHELL_HOST": "pve-lab.example.invalid",
    PREFIX + "SHELL_HOSTKEY": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample",
    PREFIX + "SHELL_KEY": "/etc/felhom/acceptance_ed25519",
    PREFIX + "VMIDS": "9100-9109",
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [("9100-9109", range(9100, 9110)), ("9100", range(9100, 9101)), (" 200-300 ", range(200, 301))],
)
def test_vmid_ranges_are_inclusive(text: str, expected: range) -> None:
    assert parse_vmids(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "99-200", "300-200", "9100-"])
def test_bad_vmid_ranges_are_refused_naming_the_variable(text: str) -> None:
    with pytest.raises(ConfigError, match="FELHOM_ACC_VMIDS"):
        parse_vmids(text)


@pytest.mark.parametrize(
    ("env", "real"),
    [({}, False), ({PREFIX + "TIME_SCALE": "0.1"}, False), ({PREFIX + "NODE": "pve1"}, True)],
)
def test_any_target_variable_selects_a_real_node(env: dict[str, str], real: bool) -> None:
    assert wants_real_node(env) is real


def test_a_full_target_has_defaults_for_the_rest() -> None:
    target = target_from_env(FULL)
    assert target.vmids == range(9100, 9110) and not target.simulated
    assert (target.rootfs_storage, target.archive_storage, target.bridge) == (
        "local-lvm",
        "local",
        "vmbr0",
    )
    assert (target.shell.port, target.shell.user, target.guests) == (22, "root", 2)
    config = target.stack_config()
    assert config["felhom:nodeShell.privateKeyPath"] == FULL[PREFIX + "SHELL_KEY"]
    assert FULL[PREFIX + "TOKEN_SECRET"] not in repr(config) + repr(target)


def test_every_missing_variable_is_named_at_once() -> None:
    partial = {k: v for k, v in FULL.items() if not k.endswith(("TOKEN_SECRET", "VMIDS"))}
    partial.pop(PREFIX + "TLS_FINGERPRINT")
    with pytest.raises(ConfigError) as err:
        target_from_env(partial)
    for name in ("TOKEN_SECRET", "VMIDS", "TLS_FINGERPRINT"):
        assert PREFIX + name in str(err.value)


def test_a_range_too_small_for_the_guests_is_refused() -> None:
    with pytest.raises(ConfigError, match="need at least 5"):
        target_from_env({**FULL, PREFIX + "VMIDS": "9100-9102", PREFIX + "GUESTS": "3"})


def test_the_docs_name_every_variable_and_scenario() -> None:
    docs = DOCS.read_text()
    missing = [PREFIX + v for v in (*TARGET_VARS, *OPTIONAL) if f"`{PREFIX}{v}`" not in docs]
    assert missing == []
    assert [s for s in scenario_ids() if f"`{s}`" not in docs] == []
