"""The declared field tables: the generated doc matches, names are one end to end, every
validator full-matches and bounds its numbers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from felhom_provider.spec import doc, formats
from felhom_provider.spec.field import Change, Field, snake
from felhom_provider.spec.golden import GOLDEN
from felhom_provider.spec.guest import GUEST, MOUNT_FIELDS, NETWORK_FIELDS, STARTUP_FIELDS
from felhom_provider.spec.stack import STACK

REPO = Path(__file__).resolve().parents[3]


def test_the_stack_config_doc_matches_the_tables() -> None:
    text = (REPO / "docs" / "stack-config.md").read_text()
    assert doc.splice(text) == text, "run: python -m felhom_provider.spec.doc docs/stack-config.md"
    for fld in (*GUEST.fields, *GOLDEN.fields, *STACK.fields, *NETWORK_FIELDS):
        if fld.stack:
            assert f"| `{fld.key}` |" in text, fld.key


def test_every_field_has_a_doc_a_type_and_a_change_kind() -> None:
    fields: list[Field] = [*GUEST.fields, *GOLDEN.fields, *STACK.fields]
    fields += [*NETWORK_FIELDS, *STARTUP_FIELDS, *MOUNT_FIELDS]
    for fld in fields:
        assert fld.doc and fld.type and isinstance(fld.change, Change), fld.key
        assert not (fld.required and fld.default is not None), fld.key


@pytest.mark.parametrize(
    ("key", "attr"),
    [
        ("rootfsGiB", "rootfs_gib"),
        ("sshAuthorizedKeys", "ssh_authorized_keys"),
        ("memory", "memory"),
    ],
)
def test_snake_names_the_spec_attribute(key: str, attr: str) -> None:
    assert snake(key) == attr
    assert GUEST.by_key["import"].attr == "import_"


HOSTILE = ["", " x", "x ", "x\n", "x\r\n", "x\x00", "x\t", "x\u2028"]


@pytest.mark.parametrize(
    "validator",
    [
        formats.HOSTNAME,
        formats.DOMAIN,
        formats.NODE,
        formats.STORAGE,
        formats.VOLID,
        formats.BRIDGE,
        formats.TAG,
        formats.POOL,
        formats.mac,
        formats.ipv4_cidr,
        formats.ipv6_cidr,
        formats.mount_path,
        formats.authorized_key,
    ],
)
@pytest.mark.parametrize("suffix", HOSTILE)
def test_string_validators_refuse_control_characters_and_junk(validator: Any, suffix: str) -> None:
    with pytest.raises(ValueError):
        validator(f"local{suffix}" if suffix else suffix)


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (99, False),
        (100, True),
        (999_999_999, True),
        (1_000_000_000, False),
        (100.0, True),
        (100.5, False),
        (True, False),
        ("100", False),
    ],
)
def test_vmid_bounds_both_ends(value: Any, ok: bool) -> None:
    if ok:
        assert formats.VMID(value) == int(value)
    else:
        with pytest.raises(ValueError):
            formats.VMID(value)


def test_every_number_is_bounded() -> None:
    huge = 10**12
    for fld in (*GUEST.fields, *GOLDEN.fields, *NETWORK_FIELDS, *STARTUP_FIELDS, *MOUNT_FIELDS):
        if fld.type in ("int", "number"):
            with pytest.raises(ValueError):
                fld.validate(huge)
            with pytest.raises(ValueError):
                fld.validate(-huge)


@pytest.mark.parametrize(
    ("value", "want"),
    [
        ("bc:24:11:aa:bb:cc", "BC:24:11:AA:BB:CC"),
        ("10.0.0.5/24", "10.0.0.5/24"),
        ("fd00::0005/64", "fd00::5/64"),
    ],
)
def test_normalisation(value: str, want: str) -> None:
    got = formats.mac(value) if ":" in value and "/" not in value else None
    if got is None:
        got = formats.ipv4_cidr(value) if "." in value else formats.ipv6_cidr(value)
    assert got == want
