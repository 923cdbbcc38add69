"""The engine's specs and states as exact values: the field a bad input is blamed on, the
JSON-safe state forms (lists, sorted host keys), and what an older or partial state dict
falls back to (mutation-testing gaps)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from felhom_provider.errors import ConfigError
from felhom_provider.reconcile.model import (
    GoldenSpec,
    GoldenState,
    GuestSpec,
    GuestState,
    MountSpec,
    owner_of,
    owner_tag,
)

OWNER = "felhom/dev/acme-web"
GUEST_INPUTS = {
    "name": "acme-web",
    "owner": OWNER,
    "node": "pve",
    "archive": "local:backup/vzdump-lxc-9000.tar.zst",
}


def _state(**changes: Any) -> GuestState:
    base: dict[str, Any] = {
        "vmid": 123,
        "node": "pve",
        "hostname": "acme-web",
        "mac": "BC:24:11:A6:C0:DE",
        "ipv4": "10.0.0.5",
        "status": "running",
        "cores": 2,
        "memory": 2048,
        "swap": 512,
        "rootfs_gib": 10,
        "mounts": (MountSpec("local-lvm", 1, "/mnt/data"),),
        "host_keys": {"ssh-ed25519": "SHA256:e", "ecdsa-sha2-nistp256": "SHA256:c"},
        "archive": "local:backup/a.tar.zst",
        "owner": OWNER,
        "tags": ("felhom", "web"),
    }
    base.update(changes)
    return GuestState(**base)


# --- owner markers and tags --------------------------------------------------------------


def test_owner_tag_is_twelve_hex_digits_of_the_owner_hash() -> None:
    digest = hashlib.sha256(OWNER.encode()).hexdigest()
    assert owner_tag(OWNER) == f"felhom-{digest[:12]}"
    assert len(owner_tag(OWNER)) == len("felhom-") + 12


@pytest.mark.parametrize(
    ("config", "owner"),
    [
        ({}, None),
        ({"description": None}, None),
        ({"description": "made by hand\n"}, None),
        ({"description": f"notes\n  felhom-owner={OWNER}  \n"}, OWNER),
    ],
)
def test_owner_of(config: dict[str, Any], owner: str | None) -> None:
    assert owner_of(config) == owner


# --- inputs: the field a bad value is blamed on ----------------------------------------


@pytest.mark.parametrize(
    ("inputs", "field", "problem"),
    [
        # a plain ValueError of a validator: its text is the problem
        ({"cores": "x"}, "cores", "must be an integer, got 'x'"),
        # a FieldError inside an object: its path extends the key, its reason is the problem
        (
            {"network": {"gw": "10.0.0.1"}},
            "network.gw",
            "a gateway needs a static ip (DHCP brings its own)",
        ),
    ],
)
def test_bad_input_names_field_and_problem(
    inputs: dict[str, Any], field: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as info:
        GuestSpec.from_inputs({**GUEST_INPUTS, **inputs})
    assert (info.value.field, info.value.problem) == (field, problem)


def test_list_inputs_become_tuples() -> None:
    spec = GuestSpec.from_inputs(
        {**GUEST_INPUTS, "tags": ["web"], "nameserver": ["10.0.0.1"], "sshAuthorizedKeys": []}
    )
    assert spec.tags == ("web",)
    assert spec.nameserver == ("10.0.0.1",)
    assert spec.ssh_authorized_keys == ()
    assert spec.hostname == "acme-web"  # defaults to the name


def test_build_vmid_outside_the_reserved_range_is_blamed_on_build_vmid() -> None:
    with pytest.raises(ConfigError) as info:
        GoldenSpec(name="g", owner=OWNER, node="pve", template="local:t", build_vmid=5)
    assert info.value.field == "buildVmid"
    assert info.value.problem.startswith("5 is outside reservedVmids ")


# --- GuestState: JSON-safe form and older states ---------------------------------------


def test_guest_state_to_dict_is_json_safe_with_sorted_host_keys() -> None:
    state = _state(pending_restart=("hostname",))
    data = state.to_dict()
    assert data["tags"] == ["felhom", "web"]
    assert data["pending_restart"] == ["hostname"]
    assert data["mounts"] == [{"storage": "local-lvm", "sizeGiB": 1, "path": "/mnt/data"}]
    assert list(data["host_keys"]) == ["ecdsa-sha2-nistp256", "ssh-ed25519"]
    assert set(data) == set(GuestState.__dataclass_fields__)
    # what Pulumi stores is exactly this dict, and it reads back to the same state
    assert json.loads(json.dumps(data)) == data
    assert GuestState.from_dict(json.loads(json.dumps(data))) == state


def test_guest_state_round_trips_every_optional_field() -> None:
    state = _state(
        host_keys_verified=False,
        ssh_port=2222,
        rootfs_rebuilt_at="2026-01-02T03:04:05Z",
        pending_restart=("mtu",),
        settings={"onboot": True},
        host_public_keys={"ssh-ed25519": "ssh-ed25519 AAAA"},
    )
    assert GuestState.from_dict(state.to_dict()) == state


def test_guest_state_from_an_older_dict_takes_the_defaults() -> None:
    data = _state().to_dict()
    for key in ("host_keys_verified", "ssh_port", "rootfs_rebuilt_at", "pending_restart"):
        del data[key]
    data["ipv4"] = None
    state = GuestState.from_dict(data)
    assert state.host_keys_verified is True
    assert state.ssh_port == 22
    assert state.rootfs_rebuilt_at is None
    assert state.pending_restart == ()
    assert state.ipv4 is None


def test_guest_state_from_dict_tolerates_wire_numbers_and_empty_values() -> None:
    data = _state().to_dict()
    data.update(vmid=123.0, ssh_port="2222", ipv4="", rootfs_rebuilt_at="")
    state = GuestState.from_dict(data)
    assert (state.vmid, state.ssh_port) == (123, 2222)
    assert state.ipv4 is None
    assert state.rootfs_rebuilt_at is None


# --- GoldenState: older states without the later fields -------------------------------


def test_golden_state_from_an_older_dict_reads_missing_fields_as_empty() -> None:
    full = GoldenState(
        archive="local:backup/g.tar.zst",
        size_bytes=123,
        golden_mac="BC:24:11:00:00:01",
        golden_hostname="felhom-golden",
        features="nesting=1,keyctl=1",
        unprivileged=True,
        docker_driver="overlay2",
        openssh_version="OpenSSH_9.9",
        created_at="2026-01-02T03:04:05Z",
    )
    assert GoldenState.from_dict(full.to_dict()) == full
    data = full.to_dict()
    for key in ("docker_driver", "openssh_version", "created_at"):
        del data[key]
    older = GoldenState.from_dict(data)
    assert (older.docker_driver, older.openssh_version, older.created_at) == ("", "", "")
