"""Config, resize, power, interfaces, destroy, nextid and task endpoints through proxmoxer."""

from __future__ import annotations

import re
from typing import Any

import pytest

from felhom_provider.sim.server import SimServer
from felhom_provider.sim.storage import TEMPLATE_VOLID
from tests.sim.helpers import (
    UPID_RE,
    config,
    create_golden,
    error_of,
    exitstatus,
    make_archive,
    restore,
    task_log,
)


@pytest.fixture
def ct(sim: SimServer, sim_root: Any, sim_client: Any) -> int:
    """A customer CT (vmid 101) restored with the agent token, stopped."""
    archive = make_archive(sim_root, sim)
    upid = restore(
        sim_client, sim, archive, 101, hostname="acme", rootfs="local-lvm:10",
        net0="name=eth0,bridge=vmbr0,ip=dhcp",
    )  # fmt: skip
    assert exitstatus(sim_client, sim, upid) == "OK"
    return 101


def lxc(client: Any, sim: SimServer, vmid: int) -> Any:
    """The ``/nodes/{node}/lxc/{vmid}`` resource."""
    return client.nodes(sim.state.node).lxc(vmid)


def test_config_put_is_sync_and_regenerates_mac(sim: SimServer, sim_client: Any, ct: int) -> None:
    before = config(sim_client, sim, ct)["net0"]
    assert lxc(sim_client, sim, ct).config.put(net0="name=eth0,bridge=vmbr0,ip=dhcp") is None
    after = config(sim_client, sim, ct)["net0"]
    assert after != before
    assert re.fullmatch(
        r"name=eth0,bridge=vmbr0,hwaddr=BC:24:11(:[0-9A-F]{2}){3},ip=dhcp,type=veth", after
    )


def test_config_put_allocates_mount_point(sim: SimServer, sim_client: Any, ct: int) -> None:
    lxc(sim_client, sim, ct).config.put(mp0="local-lvm:3,mp=/mnt/data,backup=1")
    assert (
        config(sim_client, sim, ct)["mp0"]
        == "local-lvm:vm-101-disk-1,mp=/mnt/data,backup=1,size=3G"
    )
    lxc(sim_client, sim, ct).config.put(delete="mp0")
    conf = config(sim_client, sim, ct)
    assert "mp0" not in conf and conf["unused0"] == "local-lvm:vm-101-disk-1"


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"digest": "0" * 40, "cores": 2}, 500,
         "detected modified configuration - file changed by other user? Try again."),
        ({"delete": "memory"}, 500, "unable to delete required option 'memory'"),
        ({"unprivileged": 0}, 500, "unable to modify read-only option: 'unprivileged'"),
        ({}, 500, "no options specified"),
        ({"features": "nesting=1,keyctl=1,fuse=1"}, 403,
         "Permission check failed (changing feature flags (except nesting) is only allowed for "
         "root@pam)"),
        ({"mp1": "/srv/host,mp=/mnt/host"}, 403,
         "Permission check failed (mount point type bind is only allowed for root@pam)"),
        ({"cores": 0}, 400, "Parameter verification failed."),
    ],
)  # fmt: skip
def test_config_put_errors(
    sim: SimServer, sim_client: Any, ct: int, *, params: dict[str, Any], status: int, message: str
) -> None:
    exc = error_of(lxc(sim_client, sim, ct).config.put, **params)
    assert (exc.status_code, exc.content) == (status, message)


def test_config_digest_matches(sim: SimServer, sim_client: Any, ct: int) -> None:
    digest = config(sim_client, sim, ct)["digest"]
    lxc(sim_client, sim, ct).config.put(digest=digest, cores=3)
    assert config(sim_client, sim, ct)["cores"] == 3


def test_missing_ct(sim: SimServer, sim_client: Any) -> None:
    exc = error_of(lxc(sim_client, sim, 555).config.get)
    assert (exc.status_code, exc.content) == (
        500, "Configuration file 'nodes/pve-sim/lxc/555.conf' does not exist"
    )  # fmt: skip


@pytest.mark.parametrize(
    ("size", "expected", "error"),
    [
        ("+2G", "12G", None),
        ("16G", "16G", None),
        ("8G", None, "unable to shrink disk size"),
        ("10G", None, "disk is already at specified size"),
        (str(10 << 30), None, "disk is already at specified size"),
    ],
)
def test_resize(
    sim: SimServer, sim_client: Any, ct: int, *, size: str, expected: str | None, error: str | None
) -> None:
    res = lxc(sim_client, sim, ct).resize
    if error is not None:
        exc = error_of(res.put, disk="rootfs", size=size)
        assert (exc.status_code, exc.content) == (500, error)
        return
    upid = res.put(disk="rootfs", size=size)
    assert ":resize:101:" in upid and UPID_RE.match(upid)
    assert exitstatus(sim_client, sim, upid) == "OK"
    assert config(sim_client, sim, ct)["rootfs"] == f"local-lvm:vm-101-disk-0,size={expected}"


def test_power_cycle_and_interfaces(sim: SimServer, sim_client: Any, ct: int) -> None:
    res = lxc(sim_client, sim, ct)
    assert res.interfaces.get() is None
    upid = res.status.start.post()
    assert ":vzstart:101:" in upid and exitstatus(sim_client, sim, upid) == "OK"
    exc = error_of(res.status.start.post)
    assert (exc.status_code, exc.content) == (500, "CT 101 already running")
    status = res.status.current.get()
    assert status["status"] == "running" and status["name"] == "acme" and status["pid"]
    ifaces = {i["name"]: i for i in res.interfaces.get()}
    mac = re.search(r"hwaddr=([0-9A-F:]+)", config(sim_client, sim, ct)["net0"])
    assert mac is not None
    assert ifaces["eth0"]["hwaddr"] == mac.group(1).lower()
    assert ifaces["eth0"]["inet"].startswith("127.77.") and ifaces["eth0"]["inet"].endswith("/16")
    assert ifaces["lo"]["inet"] == "127.0.0.1/8"
    exc = error_of(sim_client.nodes(sim.state.node).lxc(ct).delete)
    assert (exc.status_code, exc.content) == (
        500,
        "unable to destroy CT 101 - container is running",
    )
    assert exitstatus(sim_client, sim, res.status.shutdown.post()) == "OK"
    exc = error_of(res.status.stop.post)
    assert (exc.status_code, exc.content) == (500, "CT 101 not running")
    assert res.status.current.get()["status"] == "stopped"


def test_skiplock_is_root_only(sim: SimServer, sim_client: Any, ct: int) -> None:
    exc = error_of(lxc(sim_client, sim, ct).status.start.post, skiplock=1)
    assert exc.status_code == 400 and exc.errors == {"skiplock": "Only root may use this option."}


def test_same_mac_is_an_l2_collision(sim: SimServer, sim_root: Any) -> None:
    archive = make_archive(sim_root, sim)
    for vmid in (201, 202):
        assert (
            exitstatus(sim_root, sim, restore(sim_root, sim, archive, vmid, rootfs="local-lvm:8"))
            == "OK"
        )
        assert exitstatus(sim_root, sim, lxc(sim_root, sim, vmid).status.start.post()) == "OK"
    audit = sim.audit()
    assert audit["l2_collisions"] == [
        {"mac": "BC:24:11:63:43:F4", "vmids": [201, 202], "time": audit["l2_collisions"][0]["time"]}
    ]
    ips = {lxc(sim_root, sim, v).interfaces.get()[1]["inet"] for v in (201, 202)}
    assert len(ips) == 1  # one MAC, one lease


def test_destroy_frees_volumes(sim: SimServer, sim_client: Any, ct: int) -> None:
    lxc(sim_client, sim, ct).config.put(mp0="local-lvm:1,mp=/data")
    upid = sim_client.nodes(sim.state.node).lxc(ct).delete(purge=1)
    assert ":vzdestroy:101:" in upid and exitstatus(sim_client, sim, upid) == "OK"
    assert ct not in sim.state.cts
    assert not sim.state.storage.owned_by(ct)
    assert any("successfully removed" in line for line in task_log(sim_client, sim, upid))


def test_nextid(sim: SimServer, sim_root: Any) -> None:
    assert sim_root.cluster.nextid.get() == "100"
    create_golden(sim_root, sim, vmid=100)
    assert sim_root.cluster.nextid.get() == "101"
    assert sim_root.cluster.nextid.get(vmid=150) == "150"
    exc = error_of(sim_root.cluster.nextid.get, vmid=100)
    assert exc.status_code == 400 and exc.errors == {"vmid": "VM 100 already exists"}


def test_task_log_paging_and_list(sim: SimServer, sim_root: Any) -> None:
    create_golden(sim_root, sim)
    upid = next(t.upid for t in sim.state.tasks.all() if t.type == "vzcreate")
    for n in range(60):
        sim.state.tasks.get(upid).lines.insert(0, f"line {n}")  # type: ignore[union-attr]
    log = sim_root.nodes(sim.state.node).tasks(upid).log
    assert len(log.get()) == 50
    assert len(log.get(limit=0)) == 67
    page = log.get(start=60, limit=2)
    assert [p["n"] for p in page] == [61, 62]
    listed = sim_root.nodes(sim.state.node).tasks.get(vmid=9000, typefilter="vzcreate")
    assert [t["upid"] for t in listed] == [upid] and listed[0]["status"] == "OK"
    exc = error_of(sim_root.nodes(sim.state.node).tasks("UPID:bogus").status.get)
    assert exc.status_code == 400 and exc.errors == {"upid": "unable to parse worker upid"}


def test_version_nodes_unknown_path(sim: SimServer, sim_client: Any) -> None:
    assert sim_client.version.get()["release"] == "9.1"
    assert [n["node"] for n in sim_client.nodes.get()] == ["pve-sim"]
    exc = error_of(sim_client.nodes(sim.state.node).qemu.get)
    assert (exc.status_code, exc.content) == (
        501,
        "Method 'GET /nodes/pve-sim/qemu' not implemented",
    )
    exc = error_of(sim_client.nodes("other").lxc.get)
    assert (exc.status_code, exc.content) == (500, "no such cluster node 'other'")


def test_create_from_template_calls_guest_hook(sim: SimServer, sim_root: Any) -> None:
    upid = sim_root.nodes(sim.state.node).lxc.post(
        vmid=300, ostemplate=TEMPLATE_VOLID, rootfs="local-lvm:4",
        **{"ssh-public-keys": "ssh-ed25519 AAAA k"},
    )  # fmt: skip
    assert exitstatus(sim_root, sim, upid) == "OK"
    assert sim.state.cts[300].guest == {}  # the default hooks produce an empty payload
