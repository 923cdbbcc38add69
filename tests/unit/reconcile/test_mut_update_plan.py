"""``plan_update`` field by field: values PVE shows in other forms (startup, nameserver,
protection), deletions, the MTU restart rule, several new mounts, refusals and reasons, the
state path and the pool (mutation-testing gaps)."""

from __future__ import annotations

from typing import Any

import pytest

from felhom_provider.errors import ConfigError
from felhom_provider.reconcile.model import MountSpec, owner_tag
from felhom_provider.reconcile.observe import state_from
from felhom_provider.reconcile.update_plan import UpdatePlan, UpdateStep, plan_update

from .test_plan import OWNER, spec

NET0 = "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:A6:C0:DE,ip=dhcp,type=veth"


def live(**edit: Any) -> dict[str, Any]:
    """A restored guest's config as PVE answers ``GET …/config`` (matches ``spec()``)."""
    cfg: dict[str, Any] = {
        "hostname": "acme-web",
        "cores": 2,
        "memory": 2048,
        "swap": 512,
        "rootfs": "local-lvm:vm-101-disk-0,size=10G",
        "mp0": "local-lvm:vm-101-disk-1,mp=/mnt/data,size=1G",
        "net0": NET0,
        "tags": f"felhom;{owner_tag(OWNER)}",
        "description": f"felhom-owner={OWNER}\nfelhom-archive=local:backup/golden.tar.zst\n",
        "onboot": 1,
    }
    cfg.update(edit)
    return {k: v for k, v in cfg.items() if v is not None}


def test_the_same_values_in_pves_forms_are_no_change() -> None:
    cfg = live(startup="order=2,up=30", nameserver="1.1.1.1 9.9.9.9", searchdomain="lan",
               protection=1)  # fmt: skip
    new = spec(startup={"order": 2, "up": 30}, nameserver=("1.1.1.1", "9.9.9.9"),
               searchdomain="lan", protection=True)  # fmt: skip
    assert plan_update(cfg, new, running=True) == UpdatePlan([])


@pytest.mark.parametrize(
    ("edit", "over", "params"),
    [
        ({"startup": "order=2"}, {"startup": {"order": 3}}, {"startup": "order=3"}),
        ({"nameserver": "1.1.1.1"}, {"nameserver": ("1.1.1.1", "8.8.8.8")},
         {"nameserver": "1.1.1.1 8.8.8.8"}),
        ({"protection": 1}, {}, {"protection": 0}),
        ({}, {"protection": True}, {"protection": 1}),
        ({"onboot": 0}, {}, {"onboot": 1}),
        ({}, {"onboot": False}, {"onboot": 0}),
    ],
)  # fmt: skip
def test_single_key_changes(
    edit: dict[str, Any], over: dict[str, Any], params: dict[str, Any]
) -> None:
    plan = plan_update(live(**edit), spec(**over), running=False)
    assert plan.steps == [UpdateStep("config", params, "set " + ", ".join(sorted(params)))]


def test_undeclared_dns_and_startup_are_deleted_and_restart_a_running_guest() -> None:
    cfg = live(startup="order=1", nameserver="1.1.1.1", searchdomain="lan", digest="abc")
    plan = plan_update(cfg, spec(), running=True)
    assert plan == UpdatePlan(
        [
            UpdateStep(
                "config",
                {"delete": "nameserver,searchdomain,startup", "digest": "abc"},
                "set nameserver, searchdomain, startup",
            ),
            UpdateStep(
                "reboot",
                {},
                "running guest restarted: nameserver, searchdomain reach it only at start",
            ),
        ]
    )


def test_reason_lists_set_keys_then_deleted_ones() -> None:
    plan = plan_update(live(searchdomain="lan"), spec(cores=4, memory=4096), running=False)
    assert plan.steps == [
        UpdateStep("config", {"cores": 4, "memory": 4096, "delete": "searchdomain"},
                   "set cores, memory, searchdomain"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("old_net0", "network", "restart"),
    [
        (NET0 + ",mtu=1400", {"ip": "dhcp", "mtu": 1400, "vlan": 7}, False),  # MTU unchanged
        (NET0 + ",mtu=1400", {"ip": "dhcp", "mtu": 1500}, True),
        (NET0, {"ip": "dhcp", "mtu": 9000}, True),
        (NET0 + ",mtu=1400", {"ip": "dhcp"}, True),  # dropping it is a change too
    ],
)
def test_only_an_mtu_change_restarts_for_the_network(
    old_net0: str, network: dict[str, Any], restart: bool
) -> None:
    plan = plan_update(live(net0=old_net0), spec(network=network), running=True)
    assert plan.steps[0].kind == "config" and "net0" in plan.steps[0].params
    assert "hwaddr=BC:24:11:A6:C0:DE" in plan.steps[0].params["net0"]  # the guest keeps its MAC
    kinds = [s.kind for s in plan.steps]
    assert kinds == (["config", "reboot"] if restart else ["config"])
    if restart:
        assert plan.steps[1].reason == "running guest restarted: network.mtu reach it only at start"
    deferred = plan_update(live(net0=old_net0), spec(network=network, restarts="deferred"),
                           running=True)  # fmt: skip
    assert deferred.pending == (("network.mtu",) if restart else ())


def test_several_new_mounts_take_the_free_indexes_in_order() -> None:
    mounts = (MountSpec("local-lvm", 1, "/mnt/data"), MountSpec("tank", 2, "/a"),
              MountSpec("tank", 3, "/b"))  # fmt: skip
    cfg = live(mp1="tank:vm-101-disk-2,mp=/x,size=1G")
    with pytest.raises(ConfigError):
        plan_update(cfg, spec(mounts=mounts), running=False)  # /x would be removed
    mounts_x = (*mounts, MountSpec("tank", 1, "/x"))
    plan = plan_update(cfg, spec(mounts=mounts_x), running=False)
    assert plan.steps == [
        UpdateStep("config", {"mp2": "tank:2,mp=/a", "mp3": "tank:3,mp=/b"}, "set mp2, mp3")
    ]


@pytest.mark.parametrize(
    ("edit", "over", "field", "problem"),
    [
        ({}, {"rootfs_gib": 9}, "rootfsGiB", "cannot shrink 10 -> 9 GiB"),
        ({}, {"mounts": ()}, "mounts", "removing mounts ['/mnt/data'] would delete their data"),
        ({}, {"mounts": (MountSpec("tank", 1, "/mnt/data"),)}, "mounts",
         "/mnt/data: moving local-lvm -> tank"),
        ({"mp0": "local-lvm:vm-101-disk-1,mp=/mnt/data,size=4G"}, {}, "mounts",
         "/mnt/data: cannot shrink 4 -> 1 GiB"),
    ],
)  # fmt: skip
def test_refusals_name_the_field_and_the_loss(
    edit: dict[str, Any], over: dict[str, Any], field: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as info:
        plan_update(live(**edit), spec(**over), running=False)
    assert (info.value.field, info.value.problem) == (field, problem)


def test_resizes_follow_the_config_put_with_absolute_sizes_and_reasons() -> None:
    plan = plan_update(
        live(), spec(rootfs_gib=12, cores=3, mounts=(MountSpec("local-lvm", 5, "/mnt/data"),)),
        running=False,
    )  # fmt: skip
    assert plan.steps == [
        UpdateStep("config", {"cores": 3}, "set cores"),
        UpdateStep("resize", {"disk": "rootfs", "size": "12G"}, "rootfs 10 -> 12 GiB"),
        UpdateStep("resize", {"disk": "mp0", "size": "5G"}, "/mnt/data 1 -> 5 GiB"),
    ]


@pytest.mark.parametrize(
    ("pool", "current", "steps"),
    [
        ("customers", None, [UpdateStep("pool", {"pool": "customers"}, "move to pool customers")]),
        ("customers", "customers", []),
        ("customers", "other", [UpdateStep("pool", {"pool": "customers"}, "move to pool customers")]),  # noqa: E501
        (None, "other", []),  # no pool declared: never moved out
    ],
)  # fmt: skip
def test_pool_move(pool: str | None, current: str | None, steps: list[UpdateStep]) -> None:
    assert plan_update(live(), spec(pool=pool), running=False, current_pool=current).steps == steps


def _state(status: str) -> Any:
    return state_from(101, "pve", live(), status=status, ipv4=None, host_keys={}, owner=OWNER)


@pytest.mark.parametrize(
    ("status", "running", "restart"),
    [("running", None, True), ("stopped", None, False), ("stopped", True, True),
     ("running", False, False)],
)  # fmt: skip
def test_state_path_and_the_running_override(
    status: str, running: bool | None, restart: bool
) -> None:
    plan = plan_update(_state(status), spec(hostname="renamed"), running=running)
    # A state holds only the user's tags, so the plan writes ours back with them; the bridge
    # is taken as the spec's (a state does not record it), so net0 is left alone.
    assert plan.steps[0].kind == "config" and plan.steps[0].params["hostname"] == "renamed"
    assert "net0" not in plan.steps[0].params and "digest" not in plan.steps[0].params
    assert [s.kind for s in plan.steps] == (["config", "reboot"] if restart else ["config"])


def test_config_path_is_stopped_unless_told_and_sends_no_digest_when_none() -> None:
    plan = plan_update(live(), spec(hostname="renamed"))
    assert plan.steps == [UpdateStep("config", {"hostname": "renamed"}, "set hostname")]
    plan = plan_update(live(), spec(hostname="renamed"), running=True)
    assert [s.kind for s in plan.steps] == ["config", "reboot"]


def test_pending_fields_of_a_stopped_guest_need_no_restart() -> None:
    assert plan_update(live(), spec(), running=False, pending=("hostname",)) == UpdatePlan([])
    plan = plan_update(live(), spec(), running=True, pending=("hostname",))
    assert plan.steps == [
        UpdateStep("reboot", {}, "running guest restarted: hostname reach it only at start")
    ]
