"""``POST …/move_volume`` to another CT: PVE's rules, refusal texts and the renamed volume."""

from __future__ import annotations

from typing import Any

import pytest

from felhom_provider.sim.auth import AGENT_TOKEN, Acl
from felhom_provider.sim.server import SimServer
from tests.conftest import proxmox_for
from tests.sim.helpers import config, error_of, exitstatus, make_archive, restore, task_log

DATA = "local-lvm:1,mp=/srv/data,backup=1"


def _pair(sim: SimServer, root: Any) -> tuple[str, str]:
    """CT 201 with mp0 (data) and CT 202 without; returns (archive, mp0 volid of 201)."""
    archive = make_archive(proxmox_for(sim, "root"), sim)
    assert exitstatus(root, sim, restore(root, sim, archive, 201, rootfs="local-lvm:8", mp0=DATA))
    assert exitstatus(root, sim, restore(root, sim, archive, 202, rootfs="local-lvm:8")) == "OK"
    return archive, config(root, sim, 201)["mp0"].split(",")[0]


def _move(client: Any, sim: SimServer, vmid: int, **params: Any) -> str:
    return str(client.nodes(sim.state.node).lxc(vmid).move_volume.post(**params))


def test_move_hands_the_volume_over_renamed_to_the_target(sim: SimServer, sim_client: Any) -> None:
    _, volid = _pair(sim, sim_client)
    assert volid == "local-lvm:vm-201-disk-1"
    upid = _move(sim_client, sim, 201, volume="mp0", **{"target-vmid": 202})
    assert ":move_volume:201-mp0>202-mp0:" in upid
    assert exitstatus(sim_client, sim, upid) == "OK"
    assert "mp0" not in config(sim_client, sim, 201)
    assert (
        config(sim_client, sim, 202)["mp0"]
        == "local-lvm:vm-202-disk-1,mp=/srv/data,backup=1,size=1G"
    )
    vol = sim.state.storage.get("local-lvm:vm-202-disk-1")
    assert vol is not None and vol.vmid == 202 and sim.state.storage.get(volid) is None
    assert task_log(sim_client, sim, upid)[:3] == [
        "moving volume 'mp0' from container '201' to '202'",
        "removing volume 'mp0' from container '201' config",
        "target container '202' updated with 'mp0'",
    ]


def test_move_to_another_key_and_to_unused(sim: SimServer, sim_client: Any) -> None:
    _pair(sim, sim_client)
    upid = _move(
        sim_client, sim, 201, volume="mp0", **{"target-vmid": 202, "target-volume": "unused3"}
    )
    assert exitstatus(sim_client, sim, upid) == "OK"
    assert config(sim_client, sim, 202)["unused3"] == "local-lvm:vm-202-disk-1"
    upid = _move(
        sim_client, sim, 202, volume="unused3", **{"target-vmid": 201, "target-volume": "unused0"}
    )
    assert exitstatus(sim_client, sim, upid) == "OK"
    assert config(sim_client, sim, 201)["unused0"] == "local-lvm:vm-201-disk-1"


REFUSALS = [
    (
        "rootfs source",
        201,
        {"volume": "rootfs", "target-vmid": 202},
        "Cannot move to/from 'rootfs'",
    ),
    (
        "rootfs target",
        201,
        {"volume": "mp0", "target-vmid": 202, "target-volume": "rootfs"},
        "Cannot move to/from 'rootfs'",
    ),
    (
        "unused to mp",
        201,
        {"volume": "unused0", "target-vmid": 202, "target-volume": "mp1"},
        "Moving an unused volume to a used one is not possible",
    ),
    ("no such target", 201, {"volume": "mp0", "target-vmid": 999}, "could not find CT 999"),
    (
        "missing key",
        201,
        {"volume": "mp5", "target-vmid": 202},
        "volume 'mp5' for container '201' does not exist",
    ),
    (
        "missing key on the other CT",
        202,
        {"volume": "mp0", "target-vmid": 201},
        "volume 'mp0' for container '202' does not exist",
    ),
    (
        "target key taken",
        201,
        {"volume": "mp0", "target-vmid": 201},
        "Target volume key 'mp0' is already in use for container '201'",
    ),
    (
        "source digest",
        201,
        {"volume": "mp0", "target-vmid": 202, "digest": "0" * 40},
        "Container 201: detected modified configuration - file changed by other user? Try again.",
    ),
    (
        "target digest",
        201,
        {"volume": "mp0", "target-vmid": 202, "target-digest": "0" * 40},
        "Container 202: detected modified configuration - file changed by other user? Try again.",
    ),
]


@pytest.mark.parametrize(
    ("vmid", "params", "message"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS]
)
def test_move_refusals(
    sim: SimServer, sim_client: Any, vmid: int, params: dict[str, Any], message: str
) -> None:
    _pair(sim, sim_client)
    exc = error_of(_move, sim_client, sim, vmid, **params)
    assert (exc.status_code, exc.content) == (500, message)


def test_running_source_refused_but_running_target_hotplugs(
    sim: SimServer, sim_client: Any
) -> None:
    _pair(sim, sim_client)
    node = sim_client.nodes(sim.state.node)
    assert exitstatus(sim_client, sim, node.lxc(201).status.start.post()) == "OK"
    exc = error_of(_move, sim_client, sim, 201, volume="mp0", **{"target-vmid": 202})
    assert exc.content == (
        "Cannot move in-use volume while the source CT is running - detach or shutdown first"
    )
    assert exitstatus(sim_client, sim, node.lxc(201).status.stop.post()) == "OK"
    assert exitstatus(sim_client, sim, node.lxc(202).status.start.post()) == "OK"
    upid = _move(sim_client, sim, 201, volume="mp0", **{"target-vmid": 202})
    assert exitstatus(sim_client, sim, upid) == "OK"
    assert config(sim_client, sim, 202)["mp0"].startswith("local-lvm:vm-202-disk-1,")


def test_locked_or_template_cts_refused(sim: SimServer, sim_client: Any, sim_root: Any) -> None:
    _pair(sim, sim_client)
    sim.state.cts[202].conf["lock"] = "backup"
    exc = error_of(_move, sim_client, sim, 201, volume="mp0", **{"target-vmid": 202})
    assert exc.content == "CT is locked (backup)"
    del sim.state.cts[202].conf["lock"]
    assert sim_root.nodes(sim.state.node).lxc(202).template.post() is None
    exc = error_of(_move, sim_client, sim, 201, volume="mp0", **{"target-vmid": 202})
    assert exc.content == "Can't move volumes from or to template CT"


def test_storage_and_target_are_exclusive_and_one_is_needed(
    sim: SimServer, sim_client: Any
) -> None:
    _pair(sim, sim_client)
    both = "either set 'storage' or 'target-vmid', but not both"
    exc = error_of(
        _move, sim_client, sim, 201, volume="mp0", storage="local-lvm", **{"target-vmid": 202}
    )
    assert exc.status_code == 400 and exc.errors == {"target-vmid": both, "storage": both}
    neither = "both 'storage' and 'target-vmid' missing, either needs to be set"
    exc = error_of(_move, sim_client, sim, 201, volume="mp0")
    assert exc.status_code == 400 and exc.errors == {"target-vmid": neither, "storage": neither}


def test_privileges_on_source_target_and_storage(
    sim: SimServer, sim_client: Any, sim_weak: Any
) -> None:
    _pair(sim, sim_client)
    exc = error_of(_move, sim_weak, sim, 201, volume="mp0", **{"target-vmid": 202})
    assert (exc.status_code, exc.content) == (
        403,
        "Permission check failed (/vms/201, VM.Config.Disk)",
    )
    sim.state.auth.acls.append(Acl("/vms/202", AGENT_TOKEN, "NoAccess"))
    exc = error_of(_move, sim_client, sim, 201, volume="mp0", **{"target-vmid": 202})
    assert (exc.status_code, exc.content) == (
        403,
        "Permission check failed (/vms/202, VM.Config.Disk)",
    )
    sim.state.auth.acls[-1] = Acl("/storage/local-lvm", AGENT_TOKEN, "NoAccess")
    exc = error_of(_move, sim_client, sim, 201, volume="mp0", **{"target-vmid": 202})
    assert (exc.status_code, exc.content) == (
        403,
        "Permission check failed (/storage/local-lvm, Datastore.AllocateSpace)",
    )
