"""vzdump, extractconfig, storage listing and volume deletion."""

from __future__ import annotations

import re
import tarfile
from typing import Any

from felhom_provider.sim.auth import Acl
from felhom_provider.sim.server import SimServer
from felhom_provider.sim.storage import TEMPLATE_VOLID
from tests.conftest import proxmox_for
from tests.sim.helpers import create_golden, error_of, exitstatus, make_archive, task_log


def test_vzdump_writes_archive_with_config(sim: SimServer, sim_root: Any) -> None:
    create_golden(sim_root, sim)
    sim.state.cts[9000].guest = {"marker": "baked"}
    upid = sim_root.nodes(sim.state.node).vzdump.post(vmid="9000", mode="stop", compress="zstd")
    assert upid.split(":")[5:7] == ["vzdump", "9000"]
    log = task_log(sim_root, sim, upid)
    created = next(line for line in log if "creating vzdump archive" in line)
    name = re.search(r"(vzdump-lxc-9000-\d{4}_\d\d_\d\d-\d\d_\d\d_\d\d\.tar\.zst)", created)
    assert name is not None
    assert log[0] == "INFO: Starting Backup of VM 9000 (lxc)" and log[-1] == "TASK OK"
    items = sim_root.nodes(sim.state.node).storage("local").content.get(content="backup")
    assert [i["volid"] for i in items] == [f"local:backup/{name.group(1)}"]
    assert items[0]["format"] == "tar.zst" and items[0]["subtype"] == "lxc"
    assert items[0]["vmid"] == 9000
    text = sim_root.nodes(sim.state.node).vzdump.extractconfig.get(volume=items[0]["volid"])
    assert "features: keyctl=1,nesting=1\n" in text
    assert "lock:" not in text
    with tarfile.open(sim.state.storage.dump_dir() / name.group(1)) as tar:
        assert "./etc/vzdump/pct.conf" in tar.getnames()
    restored = sim_root.nodes(sim.state.node).lxc.post(
        vmid=150, ostemplate=items[0]["volid"], restore=1, rootfs="local-lvm:8"
    )
    assert exitstatus(sim_root, sim, restored) == "OK"
    assert sim.state.cts[150].guest == {"marker": "baked"}


def stopped_ct_9000(sim_factory: Any) -> tuple[SimServer, Any, str]:
    """A manual-clock simulator with CT 9000 created (as root) and its task finished."""
    sim = sim_factory(manual_clock=True)
    root = proxmox_for(sim, "root")
    node = sim.state.node
    upid = root.nodes(node).lxc.post(vmid=9000, ostemplate=TEMPLATE_VOLID, rootfs="local-lvm:8")
    sim.advance(60)
    assert exitstatus(root, sim, upid) == "OK"
    return sim, root, node


def test_locked_ct_and_backup_lock(sim_factory: Any) -> None:
    sim, root, node = stopped_ct_9000(sim_factory)
    dump = root.nodes(node).vzdump.post(vmid="9000", mode="stop")
    assert root.nodes(node).lxc(9000).config.get()["lock"] == "backup"
    exc = error_of(root.nodes(node).lxc(9000).config.put, cores=2)
    assert (exc.status_code, exc.content) == (500, "CT is locked (backup)")
    sim.advance(60)
    assert exitstatus(root, sim, dump) == "OK"
    assert "lock" not in root.nodes(node).lxc(9000).config.get()


def test_failed_vzdump_task_clears_the_backup_lock(sim_factory: Any) -> None:
    sim, root, node = stopped_ct_9000(sim_factory)
    sim.add_task_fault("vzdump", "job errors", vmid=9000)
    dump = root.nodes(node).vzdump.post(vmid="9000", mode="stop")
    assert root.nodes(node).lxc(9000).config.get()["lock"] == "backup"
    sim.advance(60)
    assert exitstatus(root, sim, dump) == "job errors"
    # vzdump's cleanup unlocks the guest even when the job fails (design §4.11).
    assert "lock" not in root.nodes(node).lxc(9000).config.get()
    assert "lock" not in (sim.state.dir / "lxc" / "9000.conf").read_text()
    root.nodes(node).lxc(9000).config.put(cores=2)


def test_failed_vzdump_keeps_a_lock_it_did_not_set(sim_factory: Any) -> None:
    sim, root, node = stopped_ct_9000(sim_factory)
    sim.state.cts[9000].conf["lock"] = "disk"
    dump = root.nodes(node).vzdump.post(vmid="9000")
    sim.advance(60)
    assert exitstatus(root, sim, dump) == "job errors"
    assert root.nodes(node).lxc(9000).config.get()["lock"] == "disk"


def test_weak_token_sees_no_foreign_backups(sim: SimServer, sim_root: Any, sim_weak: Any) -> None:
    archive = make_archive(sim_root, sim)
    node = sim.state.node
    assert sim_weak.nodes(node).storage("local").content.get(content="backup") == []
    assert [i["volid"] for i in sim_weak.nodes(node).storage("local").content.get()] == [
        TEMPLATE_VOLID
    ]
    exc = error_of(sim_weak.nodes(node).vzdump.extractconfig.get, volume=archive)
    assert (exc.status_code, exc.content) == (
        403, "Permission check failed (/storage/local, Datastore.AllocateSpace)"
    )  # fmt: skip


def test_delete_volume(sim: SimServer, sim_root: Any, sim_client: Any) -> None:
    archive = make_archive(sim_root, sim)
    node = sim.state.node
    upid = sim_client.nodes(node).storage("local").content(archive).delete()
    assert ":imgdel:" in upid and exitstatus(sim_client, sim, upid) == "OK"
    assert sim_client.nodes(node).storage("local").content.get(content="backup") == []
    exc = error_of(sim_client.nodes(node).storage("local").content(archive).delete)
    assert exc.status_code == 500 and exc.content == f"volume '{archive}' does not exist"


def test_storage_list(sim: SimServer, sim_client: Any) -> None:
    storages = {s["storage"]: s for s in sim_client.nodes(sim.state.node).storage.get()}
    assert storages["local"]["type"] == "dir" and "backup" in storages["local"]["content"]
    assert storages["local-lvm"]["type"] == "lvmthin"
    assert storages["local-lvm"]["total"] > storages["local-lvm"]["used"]


def test_vzdump_option_not_implemented(sim: SimServer, sim_root: Any) -> None:
    create_golden(sim_root, sim)
    exc = error_of(sim_root.nodes(sim.state.node).vzdump.post, vmid="9000", pigz=1)
    assert exc.status_code == 400
    assert exc.errors == {"pigz": "parameter is valid in PVE but not implemented by the simulator"}


def test_vzdump_job_errors(sim: SimServer, sim_root: Any, sim_weak: Any) -> None:
    create_golden(sim_root, sim)
    sim.state.auth.acls.append(Acl("/storage/local", "felhom-agent@pve!weak", "FelhomAgent"))
    upid = sim_weak.nodes(sim.state.node).vzdump.post(vmid="9000", storage="local")
    assert exitstatus(sim_weak, sim, upid) == "job errors"
    log = task_log(sim_weak, sim, upid)
    assert "Permission check failed (/vms/9000, VM.Backup)" in " ".join(log)
