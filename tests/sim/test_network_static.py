"""net0 keys over the API: static address, VLAN tag, firewall, MTU, pinned MAC, collisions."""

from __future__ import annotations

from typing import Any

import pytest

from felhom_provider.sim.server import SimServer
from tests.sim.helpers import config, error_of, exitstatus, make_archive, restore

NET = (
    "name=eth0,bridge=vmbr0,hwaddr={mac},ip=127.78.1.5/24,gw=127.78.1.1,tag=42,firewall=1,mtu=1400"
)


def _static(sim: SimServer, root: Any, vmid: int, mac: str, archive: str) -> None:
    net0 = NET.format(mac=mac)
    upid = restore(
        root, sim, archive, vmid, rootfs="local-lvm:8", net0=net0, nameserver="127.0.0.53"
    )
    assert exitstatus(root, sim, upid) == "OK"
    assert exitstatus(root, sim, root.nodes(sim.state.node).lxc(vmid).status.start.post()) == "OK"


def test_static_net0_is_kept_exactly_and_reported(sim: SimServer, sim_root: Any) -> None:
    archive = make_archive(sim_root, sim)
    _static(sim, sim_root, 701, "BC:24:11:AA:00:01", archive)
    net0 = config(sim_root, sim, 701)["net0"]
    for part in ("hwaddr=BC:24:11:AA:00:01", "ip=127.78.1.5/24", "gw=127.78.1.1", "tag=42"):
        assert part in net0
    assert "firewall=1" in net0 and "mtu=1400" in net0
    ifaces = {i["name"]: i for i in sim_root.nodes(sim.state.node).lxc(701).interfaces.get()}
    assert ifaces["eth0"]["inet"] == "127.78.1.5/24"
    assert ifaces["eth0"]["hwaddr"] == "bc:24:11:aa:00:01"
    assert "BC:24:11:AA:00:01" not in sim.state.dhcp.leases


def test_same_static_address_and_same_mac_are_audited(sim: SimServer, sim_root: Any) -> None:
    archive = make_archive(sim_root, sim)
    _static(sim, sim_root, 701, "BC:24:11:AA:00:01", archive)
    _static(sim, sim_root, 702, "BC:24:11:AA:00:02", archive)
    _static(sim, sim_root, 703, "BC:24:11:AA:00:02", archive)
    audit = sim.audit()
    assert [c["vmids"] for c in audit["ip_collisions"]] == [[701, 702], [701, 702, 703]]
    assert [c["vmids"] for c in audit["l2_collisions"]] == [[702, 703]]


@pytest.mark.parametrize(
    ("net0", "errors"),
    [
        (
            "name=eth0,bridge=vmbr0,tag=4095",
            {"net0": "invalid format - tag: value must have a maximum value of 4094"},
        ),
        ("name=eth0,bridge=vmbr0,ip=10.0.0.1", None),
        ("name=eth0,bridge=vmbr0,ip6=fe80::1", None),
    ],
)
def test_bad_net0_values_are_refused(
    sim: SimServer, sim_root: Any, net0: str, errors: dict[str, str] | None
) -> None:
    archive = make_archive(sim_root, sim)
    exc = error_of(restore, sim_root, sim, archive, 704, rootfs="local-lvm:8", net0=net0)
    assert exc.status_code == 400
    assert "net0" in exc.errors
    if errors is not None:
        assert exc.errors == errors


def test_mtu_above_the_bridge_is_refused(sim: SimServer, sim_root: Any) -> None:
    archive = make_archive(sim_root, sim)
    _static(sim, sim_root, 701, "BC:24:11:AA:00:01", archive)
    exc = error_of(
        sim_root.nodes(sim.state.node).lxc(701).config.put,
        net0="name=eth0,bridge=vmbr0,ip=dhcp,mtu=9000",
    )
    assert exc.content == "net0: MTU size '9000' is bigger than bridge MTU '1500'"
