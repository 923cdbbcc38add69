"""The diff tables: what replaces, what updates in place, and what is no change at all."""

from __future__ import annotations

from typing import Any

import pytest

from felhom_provider.resources._diff import DiffTable, canonical, compute_diff
from felhom_provider.resources._guest_check import GUEST_TABLE, spec_from_inputs
from felhom_provider.resources.golden_image import GOLDEN_TABLE, GoldenImageProvider
from felhom_provider.resources.guest import FelhomGuestArgs, FelhomGuestProvider, outputs
from felhom_provider.spec.guest import GUEST
from tests.unit.resources._fakes import FakeGuestEngine, FakeRuntime, unknown, wire_inputs

guest = FelhomGuestProvider()
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGZlbGhvbS10ZXN0LWtleS0wMDAwMDAwMDAwMDAwMDAw op"


def old_outputs(**overrides: Any) -> dict[str, Any]:
    """State as ``create`` wrote it (ints), plus the computed outputs."""
    inputs = guest.check({}, wire_inputs(**overrides)).inputs
    state = FakeGuestEngine(FakeRuntime()).create(spec_from_inputs(inputs))
    return outputs(inputs, state)


GUEST_CASES = [
    # (change to the new inputs, expected replaces, expected changes)
    ({}, [], False),
    ({"cores": 4.0}, [], True),
    ({"memory": 4096.0}, [], True),
    ({"swap": 0.0}, [], True),
    ({"hostname": "acme-www"}, [], True),
    ({"rootfsGiB": 20.0}, [], True),
    ({"tags": ["customer", "gold"]}, [], True),
    (
        {
            "mounts": [
                {"storage": "local-lvm", "sizeGiB": 1.0, "path": "/mnt/data"},
                {"storage": "local-lvm", "sizeGiB": 1.0, "path": "/mnt/more"},
            ]
        },
        [],
        True,
    ),
    # A new golden archive is rolled onto the guest: an update, never a replacement.
    ({"archive": "local:backup/vzdump-lxc-9100-new.tar.zst"}, [], True),
    ({"node": "pve2"}, ["node"], True),
    ({"vmid": 4242.0}, ["vmid"], True),
    ({"rootfsStorage": "fast"}, ["rootfsStorage"], True),
    ({"bridge": "vmbr1"}, ["bridge"], True),
    ({"archive": "local:backup/b.tar.zst", "cores": 8.0}, [], True),
    ({"archive": "local:backup/b.tar.zst", "node": "pve2"}, ["node"], True),
    ({"onboot": False}, [], True),
    ({"startup": {"order": 2.0, "up": 30.0}}, [], True),
    ({"network": {"ip": "127.0.60.5/24", "gw": "127.0.60.1"}}, [], True),
    ({"network": {"ip": "dhcp", "vlan": 20.0}}, [], True),
    ({"network": {"ip": "dhcp", "firewall": False}}, [], False),
    ({"network": {"ip": "dhcp", "mac": "BC:24:11:AA:BB:01"}}, [], True),
    ({"nameserver": ["127.0.0.53"], "searchdomain": "example.org"}, [], True),
    ({"pool": "customers"}, [], True),
    ({"cpulimit": 1.5, "cpuunits": 200.0}, [], True),
    ({"sshAuthorizedKeys": [KEY]}, [], True),
    ({"restarts": "deferred"}, [], True),
    # ``import`` only matters at create; an unset VMID is whatever PVE picked.
    ({"import": 4242.0}, [], False),
    ({"vmid": None}, [], False),
]


@pytest.mark.parametrize(("change", "replaces", "changes"), GUEST_CASES)
def test_guest_diff_table(change: dict[str, Any], replaces: list[str], changes: bool) -> None:
    olds = old_outputs()
    news = guest.check(olds, wire_inputs(**change)).inputs
    result = guest.diff("100", olds, news)
    assert result.changes is changes
    assert result.replaces == replaces
    assert result.delete_before_replace is (True if replaces else None)


def test_guest_diff_ignores_the_provider_and_output_only_keys() -> None:
    olds = {**old_outputs(), "__provider": "old pickle"}
    news = {**guest.check({}, wire_inputs()).inputs, "__provider": "new pickle"}
    assert guest.diff("100", olds, news).changes is False


def test_guest_diff_reports_unknowns_as_changes() -> None:
    olds = old_outputs()
    news = {**guest.check({}, wire_inputs()).inputs, "archive": unknown()}
    result = guest.diff("100", olds, news)
    # a golden archive built in this run: unknown at preview, still an update (a roll)
    assert result.changes is True and result.replaces == []
    news = {**guest.check({}, wire_inputs()).inputs, "node": unknown()}
    assert guest.diff("100", olds, news).replaces == ["node"]
    news = {**guest.check({}, wire_inputs()).inputs, "cores": unknown()}
    assert guest.diff("100", olds, news).replaces == []


def test_every_table_field_is_compared_or_deliberately_not() -> None:
    props = FelhomGuestArgs({f.key: 1 for f in GUEST.fields}, archive="a:b").to_props("n")
    assert set(props) == GUEST_TABLE.inputs | {"owner", "import"}
    assert GUEST_TABLE.observed == {"vmid"}


def test_golden_recipe_change_replaces_new_archive_first() -> None:
    golden = GoldenImageProvider()
    news = {
        "name": "golden",
        "owner": "p/s/golden",
        "node": "pve1",
        "template": "local:vztmpl/debian-13.tar.zst",
    }
    olds = {**golden.check({}, news).inputs, "archive": "local:backup/a.tar.zst"}
    result = golden.diff(
        "local:backup/a.tar.zst", olds, golden.check(olds, {**news, "cores": 4.0}).inputs
    )
    assert result.replaces == ["cores"]
    assert result.delete_before_replace is False
    result = golden.diff("x", olds, golden.check(olds, {**news, "retain": True}).inputs)
    assert result.changes is True and result.replaces == []
    assert golden.diff("x", olds, golden.check(olds, dict(news)).inputs).changes is False


def test_table_rejects_overlap_and_the_provider_key() -> None:
    with pytest.raises(ValueError, match="both"):
        DiffTable(replace=frozenset({"a"}), update=frozenset({"a"}))
    with pytest.raises(ValueError, match="__provider"):
        DiffTable(replace=frozenset({"__provider"}), update=frozenset())


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (2.0, 2),
        (2.5, 2.5),
        (True, True),
        ((1.0, "a"), [1, "a"]),
        ({"a": 1.0, "b": None}, {"a": 1}),
        ([{"sizeGiB": 3.0}], [{"sizeGiB": 3}]),
    ],
)
def test_canonical(value: Any, expected: Any) -> None:
    result = canonical(value)
    assert result == expected
    assert type(result) is type(expected)


def test_golden_table_is_disjoint_and_explicit() -> None:
    assert "retain" in GOLDEN_TABLE.update and "template" in GOLDEN_TABLE.replace
    assert compute_diff(GOLDEN_TABLE, {}, {}, delete_before_replace=False).changes is False


def test_state_written_with_the_old_names_does_not_replace_anything() -> None:
    """A stack made before the field table: snake_case keys in state, new names in the program."""
    olds = old_outputs()
    legacy = {
        k: v
        for k, v in olds.items()
        if k not in ("memory", "swap", "rootfsStorage", "rootfsGiB", "hostKeys")
    }
    legacy.update(
        memory_mib=olds["memory"],
        swap_mib=olds["swap"],
        rootfs_storage=olds["rootfsStorage"],
        rootfs_gib=olds["rootfsGiB"],
        host_keys=olds["hostKeys"],
        pinned_vmid=None,
        unprivileged=True,
        mounts=[
            {"storage": m["storage"], "size_gib": m["sizeGiB"], "path": m["path"]}
            for m in olds["mounts"]
        ],
    )
    news = guest.check(legacy, wire_inputs()).inputs
    result = guest.diff("100", legacy, news)
    assert result.replaces == [] and result.changes is False
    golden = GoldenImageProvider()
    recipe = {"name": "golden", "owner": "p/s/golden", "node": "pve1", "template": "local:t"}
    checked = golden.check({}, recipe).inputs
    old_golden = {
        **{
            k: v
            for k, v in checked.items()
            if k not in ("rootfsStorage", "rootfsGiB", "memory", "archiveStorage")
        },
        "rootfs_storage": checked["rootfsStorage"],
        "rootfs_gib": checked["rootfsGiB"],
        "memory_mib": checked["memory"],
        "archive_storage": checked["archiveStorage"],
        "archive": "local:backup/a.tar.zst",
    }
    assert golden.diff("x", old_golden, golden.check(old_golden, recipe).inputs).replaces == []
