"""``FelhomGuest.check``: normalisation of wire values and failures that name the field."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi.output import Unknown

from felhom_provider.resources.guest import FelhomGuestProvider
from tests.unit.resources._fakes import OWNER, unknown, wire_inputs

check = FelhomGuestProvider().check
ED25519_BLOB = "AAAAC3NzaC1lZDI1NTE5AAAAIGZlbGhvbS10ZXN0LWtleS0wMDAwMDAwMDAwMDAwMDAw"


def failures(olds: dict[str, Any], news: dict[str, Any]) -> dict[str, str]:
    return {f.property: f.reason for f in check(olds, news).failures}


def test_floats_become_ints_and_defaults_fill_in() -> None:
    news = wire_inputs()
    del news["swap"], news["bridge"]
    result = check({}, news)
    assert result.failures == []
    inputs = result.inputs
    for key in ("cores", "memory", "rootfsGiB", "swap"):
        assert type(inputs[key]) is int, key
    assert type(inputs["mounts"][0]["sizeGiB"]) is int
    assert inputs["swap"] == 512 and inputs["bridge"] == "vmbr0"
    assert inputs["onboot"] is True and inputs["network"] == {"ip": "dhcp"}
    assert inputs["protection"] is True and inputs["restarts"] == "immediate"


def test_hostname_defaults_to_the_name() -> None:
    news = wire_inputs()
    del news["hostname"]
    assert check({}, news).inputs["hostname"] == "acme-web"


def test_mounts_are_sorted_by_path_and_tags_deduplicated() -> None:
    news = wire_inputs(
        mounts=[
            {"storage": "local-lvm", "sizeGiB": 2.0, "path": "/srv/b"},
            {"storage": "local-lvm", "sizeGiB": 1.0, "path": "/srv/a/"},
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
        ({"memory": -1.0}, "memory", "between 16"),
        ({"memory": 1.5}, "memory", "whole number"),
        ({"cores": 0.0}, "cores", "between 1"),
        ({"cores": "two"}, "cores", "integer"),
        ({"rootfsGiB": 0.0}, "rootfsGiB", "between 1"),
        (
            {"mounts": [{"storage": "local-lvm", "sizeGiB": 1.0, "path": "data"}]},
            "mounts[0].path",
            "absolute",
        ),
        (
            {"mounts": [{"storage": "local-lvm", "sizeGiB": 1.0, "path": "/"}]},
            "mounts[0].path",
            "below /",
        ),
        (
            {"mounts": [{"storage": "local-lvm", "sizeGiB": 1.0, "path": "/a/../b"}]},
            "mounts[0].path",
            "no ..",
        ),
        (
            {"mounts": [{"storage": "local-lvm", "sizeGiB": 0.0, "path": "/a"}]},
            "mounts[0].sizeGiB",
            "between 1",
        ),
        (
            {"mounts": [{"storage": "bad storage", "sizeGiB": 1.0, "path": "/a"}]},
            "mounts[0].storage",
            "not valid",
        ),
        (
            {
                "mounts": [
                    {"storage": "s1", "sizeGiB": 1.0, "path": "/a"},
                    {"storage": "s1", "sizeGiB": 1.0, "path": "/a"},
                ]
            },
            "mounts[1].path",
            "twice",
        ),
        (
            {"mounts": [{"storage": "s1", "sizeGiB": 1.0, "path": "/a", "backup": 1}]},
            "mounts[0]",
            "unknown key",
        ),
        ({"archive": "not-a-volid"}, "archive", "volume id"),
        ({"node": "no such node!"}, "node", "node name"),
        ({"vmid": 99.0}, "vmid", "between 100"),
        ({"vmid": 100.0}, None, None),
        ({"vmid": 999_999_999.0}, None, None),
        ({"vmid": 1_000_000_000.0}, "vmid", "between 100"),
        ({"tags": ["Has Space"]}, "tags[0]", "PVE tag"),
        ({"owner": "just-a-name"}, "owner", "<project>/<stack>/<name>"),
        ({"bridge": "vmbr 0"}, "bridge", "not valid"),
        ({"surprise": 1}, "surprise", "unknown input"),
        # Full matches only: a trailing newline, a control character or junk never passes.
        ({"hostname": "acme-web\n"}, "hostname", "control character"),
        ({"name": "acme\tweb"}, "name", "control character"),
        ({"node": "pve1\n"}, "node", "control character"),
        ({"bridge": "vmbr0 "}, "bridge", "spaces"),
        ({"archive": "local:backup/a.tar.zst\n"}, "archive", "control character"),
        ({"tags": ["ok\x00"]}, "tags[0]", "control character"),
        (
            {"mounts": [{"storage": "s1", "sizeGiB": 1.0, "path": "/data\x1b"}]},
            "mounts[0].path",
            "control character",
        ),
        ({"name": "golden"}, "name", "reserved"),
        ({"memory": 5_000_000.0}, "memory", "between 16 and 4194304"),
        ({"swap": -1.0}, "swap", "between 0"),
        ({"cpulimit": 9000.0}, "cpulimit", "between 0"),
        ({"onboot": 1.0}, "onboot", "true or false"),
        ({"startup": {"order": -1.0}}, "startup.order", "between 0"),
        ({"startup": {"first": 1.0}}, "startup", "unknown key"),
        ({"network": {"ip": "10.0.0.5"}}, "network.ip", "prefix length"),
        ({"network": {"ip": "10.0.0.5/24", "gw": "10.0.1.1"}}, "network.gw", "outside"),
        ({"network": {"ip": "dhcp", "gw": "10.0.0.1"}}, "network.gw", "static ip"),
        ({"network": {"ip6": "fd00::5/64", "gw6": "fd01::1"}}, "network.gw6", "outside"),
        ({"network": {"vlan": 4095.0}}, "network.vlan", "between 1 and 4094"),
        ({"network": {"mac": "01:00:5E:00:00:01"}}, "network.mac", "multicast"),
        ({"network": {"mac": "BC:24:11:00:00:01\n"}}, "network.mac", "control character"),
        ({"network": {"mtu": 100.0}}, "network.mtu", "between"),
        ({"nameserver": ["not-an-ip"]}, "nameserver[0]", "not an IP"),
        ({"searchdomain": "Example.ORG"}, "searchdomain", "not valid"),
        ({"pool": "bad pool"}, "pool", "not valid"),
        ({"sshAuthorizedKeys": ["ssh-ed25519"]}, "sshAuthorizedKeys[0]", "public key line"),
        ({"sshAuthorizedKeys": ["ssh-ed25519 !!!"]}, "sshAuthorizedKeys[0]", "decode"),
        (
            {"sshAuthorizedKeys": [f"ssh-rsa {ED25519_BLOB}"]},
            "sshAuthorizedKeys[0]",
            "not a ssh-rsa",
        ),
        ({"hostKeyCheck": "trust-me"}, "hostKeyCheck", "one of"),
        ({"import": 42.0}, "import", "between 100"),
    ],
)
def test_bad_input_fails_naming_the_field(
    overrides: dict[str, Any], field: str | None, words: str | None
) -> None:
    found = failures({}, wire_inputs(**overrides))
    if field is None:
        assert found == {}
        return
    assert field in found, found
    assert words is not None and words in found[field]
    assert found[field].startswith(f"{field}: ")


SHRINK_CASES = [
    ({"rootfsGiB": 8.0}, "rootfsGiB", "cannot shrink from 10 GiB to 8 GiB"),
    ({"mounts": []}, "mounts", "removing the mount at /mnt/data"),
    (
        {"mounts": [{"storage": "local-lvm", "sizeGiB": 1.0, "path": "/mnt/data"}]},
        None,
        None,
    ),
    (
        {"mounts": [{"storage": "local-lvm", "sizeGiB": 1.0, "path": "/mnt/other"}]},
        "mounts",
        "removing the mount at /mnt/data",
    ),
    (
        {"mounts": [{"storage": "other", "sizeGiB": 1.0, "path": "/mnt/data"}]},
        "mounts[0].storage",
        "would leave its data",
    ),
]


@pytest.mark.parametrize(("overrides", "field", "words"), SHRINK_CASES)
def test_shrinking_or_removing_data_fails_and_says_how(
    overrides: dict[str, Any], field: str | None, words: str | None
) -> None:
    olds = check(
        {}, wire_inputs(mounts=[{"storage": "local-lvm", "sizeGiB": 2.0, "path": "/mnt/data"}])
    ).inputs
    olds["mounts"][0]["sizeGiB"] = 1
    found = failures(olds, wire_inputs(**overrides))
    if field is None:
        assert found == {}
        return
    assert words is not None and words in found[field]
    assert "on purpose" in found[field] and "pulumi refresh" in found[field]


def test_mount_shrink_names_the_mount() -> None:
    olds = check(
        {}, wire_inputs(mounts=[{"storage": "s1", "sizeGiB": 5.0, "path": "/data"}])
    ).inputs
    found = failures(olds, wire_inputs(mounts=[{"storage": "s1", "sizeGiB": 4.0, "path": "/data"}]))
    assert "cannot shrink /data from 5 GiB to 4 GiB" in found["mounts[0].sizeGiB"]


def test_growing_and_adding_pass() -> None:
    olds = check({}, wire_inputs()).inputs
    news = wire_inputs(
        rootfsGiB=20.0,
        mounts=[
            {"storage": "local-lvm", "sizeGiB": 3.0, "path": "/mnt/data"},
            {"storage": "local-lvm", "sizeGiB": 1.0, "path": "/mnt/more"},
        ],
    )
    assert failures(olds, news) == {}


def test_shrinking_is_allowed_when_the_guest_is_replaced_anyway() -> None:
    olds = check({}, wire_inputs()).inputs
    news = wire_inputs(rootfsGiB=4.0, rootfsStorage="fast")
    assert failures(olds, news) == {}


def test_a_golden_roll_keeps_the_data_so_shrinking_is_still_refused() -> None:
    olds = check({}, wire_inputs()).inputs
    news = wire_inputs(rootfsGiB=4.0, mounts=[], archive="local:backup/other.tar.zst")
    assert set(failures(olds, news)) == {"rootfsGiB", "mounts"}


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
    news = wire_inputs(mounts=[{"storage": "s1", "sizeGiB": unknown(), "path": "/d"}])
    assert failures({}, news) == {}


def test_provider_key_is_kept() -> None:
    result = check({}, {**wire_inputs(), "__provider": "pickled"})
    assert result.inputs["__provider"] == "pickled"
