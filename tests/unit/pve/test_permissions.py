"""Preflight: effective privileges from a permissions map, all missing ones named at once."""

from __future__ import annotations

import pytest

from felhom_provider.errors import PermissionDeniedError
from felhom_provider.pve.permissions import (
    check_preflight,
    guest_bringup_privileges,
    holds,
    missing_privileges,
)

from .fakes import Reply

GRANTED = {
    "/": {"Sys.Audit": 1},
    "/vms": {"VM.Allocate": 1, "VM.Audit": 1, "VM.PowerMgmt": 0},
    "/vms/200": {"VM.Audit": 0},
    "/storage": {"Datastore.AllocateSpace": 1},
    "/storage/local": {"Datastore.Audit": 1},
}


@pytest.mark.parametrize(
    ("path", "priv", "held"),
    [
        ("/", "Sys.Audit", True),
        ("/vms", "VM.Allocate", True),
        ("/vms/123", "VM.Allocate", True),  # propagated from /vms
        ("/vms/123", "VM.PowerMgmt", False),  # held on /vms only, not propagated
        ("/vms", "VM.PowerMgmt", True),
        ("/vms/200", "VM.Allocate", False),  # a listed path is its complete effective set
        ("/vms/200", "VM.Audit", True),
        ("/storage/local-lvm", "Datastore.AllocateSpace", True),
        ("/storage/local", "Datastore.AllocateSpace", False),
        ("/sdn/zones/localnetwork/vmbr0", "SDN.Use", False),
        ("/nodes/pve", "Sys.Audit", True),  # via "/"
        ("vms/123/", "VM.Audit", True),  # paths are normalised
    ],
)
def test_holds(path, priv, held):
    assert holds(GRANTED, path, priv) is held


def test_propagate_flag_forms():
    assert holds({"/": {"X": True}}, "/a", "X")
    assert holds({"/": {"X": "1"}}, "/a", "X")
    assert not holds({"/": {"X": 0}}, "/a", "X")
    assert not holds({}, "/", "X")


def test_every_missing_privilege_named_at_once():
    required = {
        "/vms/123": ["VM.Allocate", "VM.PowerMgmt", "VM.Config.Disk"],
        "/storage/local-lvm": ["Datastore.AllocateSpace"],
        "/sdn/zones/localnetwork/vmbr0": ["SDN.Use"],
    }
    assert missing_privileges(GRANTED, required) == [
        "SDN.Use on /sdn/zones/localnetwork/vmbr0",
        "VM.Config.Disk on /vms/123",
        "VM.PowerMgmt on /vms/123",
    ]
    with pytest.raises(PermissionDeniedError) as info:
        check_preflight(GRANTED, required, token_id="t@pve!x")
    err = info.value
    assert len(err.missing) == 3
    assert "lacks 3 privilege(s)" in str(err)
    for item in err.missing:
        assert item in str(err)


def test_bringup_requirements_shape():
    req = guest_bringup_privileges(
        vmid=None, storages=["local-lvm"], backup_storage="local", archive_owner_vmid=9000
    )
    assert "VM.Allocate" in req["/vms"]
    assert req["/vms/9000"] == {"VM.Backup"}
    assert req["/storage/local-lvm"] == {"Datastore.AllocateSpace"}
    assert req["/sdn/zones/localnetwork/vmbr0"] == {"SDN.Use"}


def test_client_preflight_uses_one_request(client, scripted):
    scripted.on("GET", "/access/permissions", Reply(data=GRANTED))
    client.preflight({"/vms/123": ["VM.Allocate"]})
    with pytest.raises(PermissionDeniedError, match=r"VM\.PowerMgmt on /vms/123"):
        client.preflight({"/vms/123": ["VM.PowerMgmt"]})
    assert client.stats.total == 2
