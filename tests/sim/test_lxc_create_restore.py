"""Create and restore rules of ``POST /nodes/{node}/lxc``, driven through proxmoxer."""

from __future__ import annotations

import re
from typing import Any

import pytest

from felhom_provider.sim.server import SimServer
from felhom_provider.sim.storage import TEMPLATE_VOLID
from tests.sim.helpers import (
    GOLDEN_NET,
    UPID_RE,
    config,
    create_golden,
    error_of,
    exitstatus,
    make_archive,
    restore,
    task_log,
    task_status,
)

NEW_NET = "name=eth0,bridge=vmbr0,ip=dhcp"


def test_create_from_template_as_root(sim: SimServer, sim_root: Any) -> None:
    create_golden(sim_root, sim)
    conf = config(sim_root, sim, 9000)
    assert conf["features"] == "keyctl=1,nesting=1"
    assert conf["rootfs"] == "local-lvm:vm-9000-disk-0,size=8G"
    assert conf["net0"] == GOLDEN_NET
    assert conf["unprivileged"] == 1
    assert conf["hostname"] == "felhom-golden"
    assert re.fullmatch(r"[0-9a-f]{40}", conf["digest"])


def test_upid_format_and_task_status(sim: SimServer, sim_client: Any) -> None:
    upid = sim_client.nodes(sim.state.node).lxc.post(
        vmid=120, ostemplate=TEMPLATE_VOLID, rootfs="local-lvm:4", net0=NEW_NET
    )
    assert UPID_RE.match(upid)
    assert upid.endswith(":vzcreate:120:felhom-agent@pve!agent:")
    status = task_status(sim_client, sim, upid)
    assert status["user"] == "felhom-agent@pve"
    assert status["tokenid"] == "agent"
    assert status["exitstatus"] == "OK"
    assert status["type"] == "vzcreate" and status["id"] == "120"


def test_token_cannot_set_keyctl(sim: SimServer, sim_client: Any) -> None:
    exc = error_of(
        sim_client.nodes(sim.state.node).lxc.post,
        vmid=121, ostemplate=TEMPLATE_VOLID, rootfs="local-lvm:4", features="nesting=1,keyctl=1",
    )  # fmt: skip
    assert exc.status_code == 403
    assert exc.content == (
        "Permission check failed (changing feature flags (except nesting) is only allowed "
        "for root@pam)"
    )


def test_token_may_set_nesting_alone(sim: SimServer, sim_client: Any) -> None:
    upid = sim_client.nodes(sim.state.node).lxc.post(
        vmid=122, ostemplate=TEMPLATE_VOLID, rootfs="local-lvm:4", features="nesting=1"
    )
    assert exitstatus(sim_client, sim, upid) == "OK"


def test_restore_merges_passed_over_archive(sim: SimServer, sim_root: Any, sim_client: Any) -> None:
    archive = make_archive(sim_root, sim)
    upid = restore(
        sim_client, sim, archive, 101, hostname="acme-web", net0=NEW_NET, rootfs="local-lvm:16",
        mp0="local-lvm:1,mp=/mnt/data", cores=4, memory=4096, description="felhom-owner=p/s/acme",
    )  # fmt: skip
    assert upid.split(":")[5:7] == ["vzrestore", "101"]
    assert exitstatus(sim_client, sim, upid) == "OK"
    conf = config(sim_client, sim, 101)
    assert conf["hostname"] == "acme-web"
    assert conf["cores"] == 4 and conf["memory"] == 4096
    assert conf["swap"] == 512  # from the archive
    assert conf["features"] == "keyctl=1,nesting=1"  # archive features, unchecked for a token
    assert conf["rootfs"] == "local-lvm:vm-101-disk-0,size=16G"
    assert conf["mp0"] == "local-lvm:vm-101-disk-1,mp=/mnt/data,size=1G"
    mac = re.search(r"hwaddr=([0-9A-F:]+)", conf["net0"])
    assert mac and mac.group(1).startswith("BC:24:11:") and mac.group(1) != "BC:24:11:63:43:F4"
    assert "lock" not in conf
    log = task_log(sim_client, sim, upid)
    assert log[0] == f"recovering backed-up configuration from '{archive}'"
    assert "merging backed-up and given configuration.." in log
    assert log[-1] == "TASK OK"


def test_restore_keeps_archive_mac_when_net0_not_passed(sim: SimServer, sim_root: Any) -> None:
    archive = make_archive(sim_root, sim)
    upid = restore(sim_root, sim, archive, 102, storage="local-lvm")
    assert exitstatus(sim_root, sim, upid) == "OK"
    conf = config(sim_root, sim, 102)
    assert conf["net0"] == GOLDEN_NET  # the seed's F1: the archived MAC survives
    assert conf["rootfs"] == "local-lvm:vm-102-disk-0,size=8G"  # simple mode: archive size


def test_advanced_restore_ignores_archive_mount_points(sim: SimServer, sim_root: Any) -> None:
    archive = make_archive(sim_root, sim, mp0="local-lvm:2,mp=/srv,backup=1")
    upid = restore(sim_root, sim, archive, 103, rootfs="local-lvm:10")
    assert exitstatus(sim_root, sim, upid) == "OK"
    conf = config(sim_root, sim, 103)
    assert "mp0" not in conf
    assert conf["rootfs"] == "local-lvm:vm-103-disk-0,size=10G"
    simple = restore(sim_root, sim, archive, 104, storage="local-lvm")
    assert exitstatus(sim_root, sim, simple) == "OK"
    assert config(sim_root, sim, 104)["mp0"] == "local-lvm:vm-104-disk-1,mp=/srv,backup=1,size=2G"


def test_unique_replaces_passed_net0(sim: SimServer, sim_root: Any) -> None:
    archive = make_archive(sim_root, sim)
    upid = restore(
        sim_root, sim, archive, 105, unique=1, rootfs="local-lvm:8",
        net0="name=eth9,bridge=vmbr0,ip=dhcp",
    )  # fmt: skip
    assert exitstatus(sim_root, sim, upid) == "OK"
    net0 = config(sim_root, sim, 105)["net0"]
    assert net0.startswith("name=eth0,bridge=vmbr0,hwaddr=BC:24:11:")  # the archive's, new MAC
    assert "BC:24:11:63:43:F4" not in net0


def test_unique_requires_restore(sim: SimServer, sim_root: Any) -> None:
    exc = error_of(
        sim_root.nodes(sim.state.node).lxc.post,
        vmid=106, ostemplate=TEMPLATE_VOLID, rootfs="local-lvm:4", unique=1,
    )  # fmt: skip
    assert exc.status_code == 400
    assert exc.content == "Parameter verification failed."
    assert exc.errors == {"restore": "missing property required by 'unique'"}


def test_template_archive_restores_as_template(sim: SimServer, sim_root: Any) -> None:
    create_golden(sim_root, sim)
    assert sim_root.nodes(sim.state.node).lxc(9000).template.post() is None
    conf = config(sim_root, sim, 9000)
    assert conf["template"] == 1
    assert conf["rootfs"].startswith("local-lvm:base-9000-disk-0")
    upid = sim_root.nodes(sim.state.node).vzdump.post(vmid="9000", mode="stop", compress="zstd")
    assert exitstatus(sim_root, sim, upid) == "OK"
    archive = (
        sim_root.nodes(sim.state.node).storage("local").content.get(content="backup")[0]["volid"]
    )
    upid = restore(sim_root, sim, archive, 107, rootfs="local-lvm:8", template=0)
    assert exitstatus(sim_root, sim, upid) == "OK"
    assert config(sim_root, sim, 107)["template"] == 1
    start = sim_root.nodes(sim.state.node).lxc(107).status.start.post()
    assert exitstatus(sim_root, sim, start) == "you can't start a CT if it's a template"


def test_restore_ignores_password_and_keys(sim: SimServer, sim_root: Any, sim_client: Any) -> None:
    archive = make_archive(sim_root, sim)
    upid = restore(
        sim_client, sim, archive, 108, rootfs="local-lvm:8", password="secret123",
        **{"ssh-public-keys": "ssh-ed25519 AAAA test"},
    )  # fmt: skip
    assert exitstatus(sim_client, sim, upid) == "OK"
    assert "create" not in sim.state.cts[108].guest  # post_create_hook does not run on restore


def test_restore_drops_raw_lxc_without_root(sim: SimServer, sim_root: Any, sim_client: Any) -> None:
    create_golden(sim_root, sim)
    ct = sim.state.cts[9000]
    ct.raw_lxc.append(("lxc.apparmor.profile", "unconfined"))
    sim.state.save_ct(ct)
    archive = sim_root.nodes(sim.state.node).vzdump.post(vmid="9000", mode="stop")
    assert exitstatus(sim_root, sim, archive) == "OK"
    volid = (
        sim_root.nodes(sim.state.node).storage("local").content.get(content="backup")[0]["volid"]
    )
    assert volid.endswith(".tar")  # compress defaults to 0
    upid = restore(sim_client, sim, volid, 109, rootfs="local-lvm:8")
    assert exitstatus(sim_client, sim, upid) == "WARNINGS: 1"
    assert "lxc" not in config(sim_client, sim, 109)
    as_root = restore(sim_root, sim, volid, 110, rootfs="local-lvm:8")
    assert exitstatus(sim_root, sim, as_root) == "OK"
    assert config(sim_root, sim, 110)["lxc"] == [["lxc.apparmor.profile", "unconfined"]]


@pytest.mark.parametrize(
    ("params", "status", "message", "errors"),
    [
        ({"vmid": 9000}, 500, "CT 9000 already exists on node 'pve-sim'", None),
        ({"vmid": 130, "mp0": "local-lvm:1,mp=/x"}, 500,
         "mount points configured, but 'rootfs' not set - aborting", None),
        ({"vmid": 131}, 400, "Parameter verification failed.",
         {"storage": "storage 'local' does not support container directories"}),
        ({"vmid": 132, "rootfs": "local-lvm:4", "bogus": "1"}, 400,
         "Parameter verification failed.",
         {"bogus": "property is not defined in schema and the schema does not allow additional "
                   "properties"}),
        ({"vmid": 133, "rootfs": "local-lvm:4", "net0": "name=eth0,hwaddr=BD:24:11:00:00:01"}, 400,
         "Parameter verification failed.",
         {"net0": "invalid format - hwaddr: value does not look like a valid unicast MAC address"}),
        ({"vmid": 99, "rootfs": "local-lvm:4"}, 400, "Parameter verification failed.",
         {"vmid": "value must have a minimum value of 100"}),
    ],
)  # fmt: skip
def test_create_sync_errors(
    sim: SimServer,
    sim_root: Any,
    *,
    params: dict[str, Any],
    status: int,
    message: str,
    errors: dict[str, str] | None,
) -> None:
    create_golden(sim_root, sim)
    exc = error_of(sim_root.nodes(sim.state.node).lxc.post, ostemplate=TEMPLATE_VOLID, **params)
    assert (exc.status_code, exc.content, exc.errors) == (status, message, errors)


def test_restore_needs_backup_content(sim: SimServer, sim_root: Any) -> None:
    exc = error_of(restore, sim_root, sim, TEMPLATE_VOLID, 140, rootfs="local-lvm:4")
    assert exc.status_code == 500
    assert (
        exc.content == f"unable to use volume {TEMPLATE_VOLID} - content type needs to be 'backup'"
    )


def test_force_restore_over_existing(sim: SimServer, sim_root: Any) -> None:
    archive = make_archive(sim_root, sim)
    assert (
        exitstatus(sim_root, sim, restore(sim_root, sim, archive, 141, rootfs="local-lvm:8"))
        == "OK"
    )
    upid = restore(sim_root, sim, archive, 141, rootfs="local-lvm:9", force=1)
    assert exitstatus(sim_root, sim, upid) == "OK"
    # create_vm allocates the new disks before destroy_lxc_container frees the old ones.
    assert config(sim_root, sim, 141)["rootfs"] == "local-lvm:vm-141-disk-1,size=9G"
    assert [v.volid for v in sim.state.storage.owned_by(141)] == ["local-lvm:vm-141-disk-1"]


def test_restore_task_failure_cleans_up(sim: SimServer, sim_root: Any) -> None:
    archive = make_archive(sim_root, sim)
    sim.add_task_fault("vzrestore", "extraction failed", vmid=142)
    upid = restore(sim_root, sim, archive, 142, rootfs="local-lvm:8")
    assert exitstatus(sim_root, sim, upid) == "unable to restore CT 142 - extraction failed"
    assert 142 not in sim.state.cts
    assert not sim.state.storage.owned_by(142)


def test_start_param_forks_detached_start(sim: SimServer, sim_root: Any) -> None:
    archive = make_archive(sim_root, sim)
    upid = restore(sim_root, sim, archive, 143, rootfs="local-lvm:8", net0=NEW_NET, start=1)
    assert exitstatus(sim_root, sim, upid) == "OK"
    assert sim.state.cts[143].status == "running"
    starts = [t for t in sim.state.tasks.all() if t.type == "vzstart" and t.id == "143"]
    assert len(starts) == 1 and starts[0].upid != upid
