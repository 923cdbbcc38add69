"""``FelhomGuest.check``: normalisation of wire values and failures that name the field."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi.output import Unknown

from felhom_provider.resources.guest import FelhomGuestProvider
from tests.unit.resources._fakes import OWNER, unknown, wire_inputs

check = FelhomGuestProvider().check


def failures(olds: dict[str, Any], news: dict[str, Any]) -> dict[str, str]:
    return {f.property: f.reason for f in check(olds, news).failures}


def test_floats_become_ints_and_defaults_fill_in() -> None:
    news = wire_inputs()
    del news["swap_mib"], news["bridge"], news["unprivileged"]
    result = check({}, news)
    assert result.failures == []
    inputs = result.inputs
    for key in ("cores", "memory_mib", "rootfs_gib", "swap_mib"):
        assert type(inputs[key]) is int, key
    assert type(inputs["mounts"][0]["size_gib"]) is int
    assert inputs["swap_mib"] == 512 and inputs["bridge"] == "vmbr0"
    assert inputs["unprivileged"] is True


def test_hostname_defaults_to_the_name() -> None:
    news = wire_inputs()
    del news["hostname"]
    assert check({}, news).inputs["hostname"] == "acme-web"


def test_mounts_are_sorted_by_path_and_tags_deduplicated() -> None:
    news = wire_inputs(
        mounts=[
            {"storage": "local-lvm", "size_gib": 2.0, "path": "/srv/b"},
            {"storage": "local-lvm", "size_gib": 1.0, "path": "/srv/a/"},
        ],
        tags=["b", "a", "b"],
    )
    inputs = check({}, news).inputs
    assert [m["path"] for m in inputs["mounts"]] == ["/srv/a", "/srv/b"]
    assert inputs["tags"] == ["a", "b"]


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"hostname": "Bad_Name"}, "hostname", "DNS label"),
        ({"hostname": "a.b"}, "hostname", "DNS label"),
        ({"memory_mib": -1.0}, "memory_mib", ">= 16"),
        ({"memory_mib": 1.5}, "memory_mib", "whole number"),
        ({"cores": 0.0}, "cores", "between 1"),
        ({"cores": "two"}, "cores", "integer"),
        ({"rootfs_gib": 0.0}, "rootfs_gib", "between 1"),
        (
            {"mounts": [{"storage": "local-lvm", "size_gib": 1.0, "path": "data"}]},
            "mounts[0].path",
            "absolute",
        ),
        (
            {"mounts": [{"storage": "local-lvm", "size_gib": 1.0, "path": "/"}]},
            "mounts[0].path",
            "below /",
        ),
        (
            {"mounts": [{"storage": "local-lvm", "size_gib": 1.0, "path": "/a/../b"}]},
            "mounts[0].path",
            "no ..",
        ),
        (
            {"mounts": [{"storage": "local-lvm", "size_gib": 0.0, "path": "/a"}]},
            "mounts[0].size_gib",
            "between 1",
        ),
        (
            {"mounts": [{"storage": "bad storage", "size_gib": 1.0, "path": "/a"}]},
            "mounts[0].storage",
            "not valid",
        ),
        (
            {
                "mounts": [
                    {"storage": "s1", "size_gib": 1.0, "path": "/a"},
                    {"storage": "s1", "size_gib": 1.0, "path": "/a"},
                ]
            },
            "mounts[1].path",
            "twice",
        ),
        (
            {"mounts": [{"storage": "s1", "size_gib": 1.0, "path": "/a", "backup": 1}]},
            "mounts[0]",
            "unknown keys",
        ),
        ({"archive": "not-a-volid"}, "archive", "volume id"),
        ({"node": "no such node!"}, "node", "node name"),
        ({"pinned_vmid": 99.0}, "pinned_vmid", "between 100"),
        ({"unprivileged": False}, "unprivileged", "only unprivileged"),
        ({"tags": ["Has Space"]}, "tags[0]", "PVE tag"),
        ({"owner": "just-a-name"}, "owner", "<project>/<stack>/<name>"),
        ({"bridge": "vmbr 0"}, "bridge", "not valid"),
        ({"surprise": 1}, "surprise", "unknown input"),
    ],
)
def test_bad_input_fails_naming_the_field(
    overrides: dict[str, Any], field: str, words: str
) -> None:
    found = failures({}, wire_inputs(**overrides))
    assert field in found, found
    assert words in found[field]
    assert found[field].startswith(f"{field}: ")


SHRINK_CASES = [
    ({"rootfs_gib": 8.0}, "rootfs_gib", "cannot shrink from 10 GiB to 8 GiB"),
    ({"mounts": []}, "mounts", "removing the mount at /mnt/data"),
    (
        {"mounts": [{"storage": "local-lvm", "size_gib": 1.0, "path": "/mnt/data"}]},
        None,
        None,
    ),
    (
        {"mounts": [{"storage": "local-lvm", "size_gib": 1.0, "path": "/mnt/other"}]},
        "mounts",
        "removing the mount at /mnt/data",
    ),
    (
        {"mounts": [{"storage": "other", "size_gib": 1.0, "path": "/mnt/data"}]},
        "mounts[0].storage",
        "would leave its data",
    ),
]


@pytest.mark.parametrize(("overrides", "field", "words"), SHRINK_CASES)
def test_shrinking_or_removing_data_fails_and_says_how(
    overrides: dict[str, Any], field: str | None, words: str | None
) -> None:
    olds = check(
        {}, wire_inputs(mounts=[{"storage": "local-lvm", "size_gib": 2.0, "path": "/mnt/data"}])
    ).inputs
    olds["mounts"][0]["size_gib"] = 1
    found = failures(olds, wire_inputs(**overrides))
    if field is None:
        assert found == {}
        return
    assert words is not None and words in found[field]
    assert "on purpose" in found[field] and "pulumi refresh" in found[field]


def test_mount_shrink_names_the_mount() -> None:
    olds = check(
        {}, wire_inputs(mounts=[{"storage": "s1", "size_gib": 5.0, "path": "/data"}])
    ).inputs
    found = failures(
        olds, wire_inputs(mounts=[{"storage": "s1", "size_gib": 4.0, "path": "/data"}])
    )
    assert "cannot shrink /data from 5 GiB to 4 GiB" in found["mounts[0].size_gib"]


def test_growing_and_adding_pass() -> None:
    olds = check({}, wire_inputs()).inputs
    news = wire_inputs(
        rootfs_gib=20.0,
        mounts=[
            {"storage": "local-lvm", "size_gib": 3.0, "path": "/mnt/data"},
            {"storage": "local-lvm", "size_gib": 1.0, "path": "/mnt/more"},
        ],
    )
    assert failures(olds, news) == {}


def test_shrinking_is_allowed_when_the_guest_is_replaced_anyway() -> None:
    olds = check({}, wire_inputs()).inputs
    news = wire_inputs(rootfs_gib=4.0, archive="local:backup/other.tar.zst")
    assert failures(olds, news) == {}


def test_owner_sticks_to_the_first_value() -> None:
    olds = check({}, wire_inputs()).inputs
    result = check(olds, wire_inputs(owner="felhom/renamed/acme-web"))
    assert result.failures == []
    assert result.inputs["owner"] == OWNER


def test_unknowns_pass_through_without_failures() -> None:
    news = wire_inputs(archive=unknown(), cores=unknown(), mounts=unknown(), tags=unknown())
    result = check(check({}, wire_inputs()).inputs, news)
    assert result.failures == []
    assert isinstance(result.inputs["archive"], Unknown)
    assert isinstance(result.inputs["mounts"], Unknown)


def test_unknown_inside_a_mount_passes() -> None:
    news = wire_inputs(mounts=[{"storage": "s1", "size_gib": unknown(), "path": "/d"}])
    assert failures({}, news) == {}


def test_provider_key_is_kept() -> None:
    result = check({}, {**wire_inputs(), "__provider": "pickled"})
    assert result.inputs["__provider"] == "pickled"
