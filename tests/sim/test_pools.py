"""``/pools``: create, list, read, update members, delete; ``pool`` on create/restore."""

from __future__ import annotations

from typing import Any

import pytest

from felhom_provider.sim.auth import AGENT_TOKEN, Acl
from felhom_provider.sim.server import SimServer
from tests.sim.helpers import error_of, exitstatus, make_archive, restore


def _ct(sim: SimServer, root: Any, vmid: int, **extra: Any) -> str:
    archive = make_archive(root, sim) if not sim.state.cts else ""
    if not archive:
        items = root.nodes(sim.state.node).storage("local").content.get(content="backup")
        archive = items[0]["volid"]
    upid = restore(root, sim, archive, vmid, rootfs="local-lvm:8", unique=1, **extra)
    assert exitstatus(root, sim, upid) == "OK"
    return archive


def test_pool_lifecycle_with_members(sim: SimServer, sim_root: Any) -> None:
    sim_root.pools.post(poolid="customers", comment="paying")
    _ct(sim, sim_root, 601, pool="customers")
    _ct(sim, sim_root, 602)
    assert sim_root.pools.get() == [{"poolid": "customers", "comment": "paying"}]
    sim_root.pools.put(poolid="customers", vms="602", storage="local-lvm")
    (info,) = sim_root.pools.get(poolid="customers")
    assert [m["id"] for m in info["members"]] == [
        "lxc/601",
        "lxc/602",
        f"storage/{sim.state.node}/local-lvm",
    ]
    assert [m["id"] for m in sim_root.pools("customers").get(type="lxc")["members"]] == [
        "lxc/601",
        "lxc/602",
    ]
    exc = error_of(sim_root.pools.delete, poolid="customers")
    assert exc.content == "delete pool failed: pool 'customers' is not empty (contains VM 601)"
    # A destroyed CT leaves its pool.
    for vmid in (601, 602):
        assert exitstatus(sim_root, sim, sim_root.nodes(sim.state.node).lxc(vmid).delete())
    sim_root.pools.put(poolid="customers", storage="local-lvm", delete=1)
    sim_root.pools.delete(poolid="customers")
    assert sim_root.pools.get() == []


@pytest.mark.parametrize(
    ("call", "params", "message"),
    [
        ("post", {"poolid": "customers"}, "create pool failed: pool 'customers' already exists"),
        ("post", {"poolid": "9lives"}, "create pool failed: pool name must start with a letter"),
        (
            "post",
            {"poolid": "a/b"},
            "create pool failed: parent 'a' of pool 'a/b' does not exist",
        ),
        (
            "put",
            {"poolid": "nope", "vms": "601"},
            "update pools failed: pool 'nope' does not exist",
        ),
        (
            "put",
            {"poolid": "customers", "vms": "601"},
            "update pools failed: VM 601 is already a pool member",
        ),
        (
            "put",
            {"poolid": "other", "vms": "601"},
            "update pools failed: VM 601 belongs already to pool 'customers'"
            " and 'allow-move' is not set",
        ),
        (
            "put",
            {"poolid": "other", "vms": "601", "delete": 1},
            "update pools failed: VM 601 is not a pool member",
        ),
        ("delete", {"poolid": "nope"}, "delete pool failed: pool 'nope' does not exist"),
    ],
)
def test_pool_refusals(
    sim: SimServer, sim_root: Any, call: str, params: dict[str, Any], message: str
) -> None:
    sim_root.pools.post(poolid="customers")
    sim_root.pools.post(poolid="other")
    _ct(sim, sim_root, 601, pool="customers")
    exc = error_of(getattr(sim_root.pools, call), **params)
    assert (exc.status_code, exc.content) == (500, message)


def test_allow_move_and_unknown_pool_on_restore(sim: SimServer, sim_root: Any) -> None:
    sim_root.pools.post(poolid="customers")
    sim_root.pools.post(poolid="other")
    archive = _ct(sim, sim_root, 601, pool="customers")
    sim_root.pools.put(poolid="other", vms="601", **{"allow-move": 1})
    assert sim.state.pools.pool_of(601) == "other"
    exc = error_of(restore, sim_root, sim, archive, 603, rootfs="local-lvm:8", pool="ghost")
    assert (exc.status_code, exc.content) == (
        403,
        "Permission check failed (pool 'ghost' does not exist)",
    )


def test_pool_privileges(sim: SimServer, sim_root: Any, sim_client: Any, sim_weak: Any) -> None:
    exc = error_of(sim_client.pools.post, poolid="customers")
    assert (exc.status_code, exc.content) == (
        403,
        "Permission check failed (/pool/customers, Pool.Allocate)",
    )
    sim_root.pools.post(poolid="customers")
    assert sim_weak.pools.get() == []  # no Pool.Audit: the pool is not listed
    exc = error_of(sim_weak.pools("customers").get)
    assert exc.status_code == 403
    sim.state.auth.acls.append(Acl("/pool/customers", AGENT_TOKEN, "Administrator"))
    sim.state.auth.acls.append(Acl("/pool/customers", "felhom-agent@pve", "Administrator"))
    sim_client.pools.put(poolid="customers", comment="ok")
    assert sim_client.pools.get() == [{"poolid": "customers", "comment": "ok"}]


def test_pools_survive_a_restart(sim: SimServer, sim_root: Any) -> None:
    sim_root.pools.post(poolid="customers", comment="kept")
    sim.restart()
    assert sim.state.pools.pools["customers"].comment == "kept"
