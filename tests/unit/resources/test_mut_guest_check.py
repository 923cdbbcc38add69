"""``check_guest`` edges: failed fields leave no value behind, the hostname default of a bad
name, an empty old owner, and malformed old mounts (mutation-testing gaps)."""

from __future__ import annotations

from typing import Any

from felhom_provider.resources._guest_check import check_guest

from ._fakes import OWNER, wire_inputs


def _props(result: Any) -> list[str]:
    return [f.property for f in result.failures]


def test_a_missing_required_input_fails_and_is_not_passed_on() -> None:
    news = wire_inputs()
    del news["archive"]
    result = check_guest({}, news)
    assert _props(result) == ["archive"]
    assert result.failures[0].reason == "archive: is required"
    assert "archive" not in result.inputs


def test_an_invalid_input_fails_by_name_and_is_not_passed_on() -> None:
    result = check_guest({}, wire_inputs(bridge="not a bridge!"))
    assert _props(result) == ["bridge"]
    assert "bridge" not in result.inputs


def test_a_bad_name_gives_no_hostname_default_to_fail_on() -> None:
    news = wire_inputs(name="Bad Name!")
    del news["hostname"]
    result = check_guest({}, news)
    assert _props(result) == ["name"]
    assert "hostname" not in result.inputs


def test_an_empty_old_owner_does_not_stick() -> None:
    assert check_guest({"owner": ""}, wire_inputs()).inputs["owner"] == OWNER
    assert check_guest({"owner": None}, wire_inputs()).inputs["owner"] == OWNER
    assert check_guest({"owner": "felhom/old/x"}, wire_inputs()).inputs["owner"] == "felhom/old/x"


def test_malformed_old_mounts_are_skipped_not_compared() -> None:
    olds = wire_inputs(mounts=[{"path": 5, "sizeGiB": 9.0}, "junk"])
    assert check_guest(olds, wire_inputs()).failures == []
    # A malformed entry before a real one does not end the comparison.
    olds = wire_inputs(mounts=["junk", {"storage": "local-lvm", "sizeGiB": 1.0, "path": "/x"}])
    result = check_guest(olds, wire_inputs())
    assert _props(result) == ["mounts"]
    assert result.failures[0].reason.startswith(
        "mounts: removing the mount at /x would destroy its volume and data."
    )


def test_every_removed_mount_is_named() -> None:
    mounts = [{"storage": "local-lvm", "sizeGiB": 1.0, "path": p} for p in ("/x", "/y")]
    result = check_guest(wire_inputs(mounts=mounts), wire_inputs())
    assert [f.reason.split(" would ")[0] for f in result.failures] == [
        "mounts: removing the mount at /x",
        "mounts: removing the mount at /y",
    ]
