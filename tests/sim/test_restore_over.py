"""Restore over an existing CT and destroy: refusals, and which volumes go (ownership)."""

from __future__ import annotations

from typing import Any

import pytest

from felhom_provider.sim.server import SimServer
from felhom_provider.sim.storage import GIB
from tests.sim.helpers import config, error_of, exitstatus, make_archive, restore, task_log


def _ct(sim: SimServer, root: Any, vmid: int = 141, archive: str = "", **extra: Any) -> str:
    archive = archive or make_archive(root, sim)
    upid = restore(root, sim, archive, vmid, rootfs="local-lvm:8", **extra)
    assert exitstatus(root, sim, upid) == "OK"
    return archive


@pytest.mark.parametrize(
    ("setup", "status", "message"),
    [
        ("running", 500, "can't overwrite running container"),
        ("protection", 500, "unable to restore CT 141 - protection mode enabled"),
    ],
)
def test_restore_over_refusals(
    sim: SimServer, sim_root: Any, setup: str, status: int, message: str
) -> None:
    archive = _ct(sim, sim_root)
    node = sim_root.nodes(sim.state.node)
    if setup == "running":
        assert exitstatus(sim_root, sim, node.lxc(141).status.start.post()) == "OK"
    else:
        node.lxc(141).config.put(protection=1)
    exc = error_of(restore, sim_root, sim, archive, 141, rootfs="local-lvm:8", force=1)
    assert (exc.status_code, exc.content) == (status, message)


def test_restore_over_needs_allocate_or_backup(
    sim: SimServer, sim_root: Any, sim_weak: Any
) -> None:
    archive = _ct(sim, sim_root)
    exc = error_of(restore, sim_weak, sim, archive, 141, rootfs="local-lvm:8", force=1)
    assert exc.status_code == 403


def test_restore_over_frees_referenced_volumes_but_not_foreign_or_orphans(
    sim: SimServer, sim_root: Any
) -> None:
    archive = _ct(sim, sim_root, mp0="local-lvm:1,mp=/srv/data")
    _ct(sim, sim_root, 142, archive)
    orphan = sim.state.storage.alloc_disk("local-lvm", 141, GIB, 0)
    node = sim_root.nodes(sim.state.node)
    node.lxc(141).config.put(unused0="local-lvm:vm-142-disk-0")
    upid = restore(sim_root, sim, archive, 141, rootfs="local-lvm:8", force=1)
    assert exitstatus(sim_root, sim, upid) == "OK"
    log = task_log(sim_root, sim, upid)
    assert "ignore deletion of 'local-lvm:vm-142-disk-0', CT 141 isn't the owner!" in log
    assert sim.state.storage.get("local-lvm:vm-142-disk-0") is not None
    for gone in ("local-lvm:vm-141-disk-0", "local-lvm:vm-141-disk-1"):
        assert sim.state.storage.get(gone) is None, gone
    assert sim.state.storage.get(orphan.volid) is not None  # unreferenced: kept
    assert "mp0" not in config(sim_root, sim, 141)


@pytest.mark.parametrize("unreferenced", [False, True])
def test_destroy_unreferenced_disks(sim: SimServer, sim_root: Any, unreferenced: bool) -> None:
    _ct(sim, sim_root)
    orphan = sim.state.storage.alloc_disk("local-lvm", 141, GIB, 0)
    node = sim_root.nodes(sim.state.node)
    upid = node.lxc(141).delete(**{"destroy-unreferenced-disks": int(unreferenced), "purge": 1})
    assert exitstatus(sim_root, sim, upid) == "OK"
    assert (sim.state.storage.get(orphan.volid) is None) == unreferenced
    assert sim.state.storage.get("local-lvm:vm-141-disk-0") is None


def test_restoring_a_privileged_archive_needs_sys_modify(
    sim: SimServer, sim_root: Any, sim_client: Any
) -> None:
    archive = make_archive(sim_root, sim, 9001, unprivileged=0, features="nesting=1")
    upid = restore(sim_client, sim, archive, 150, rootfs="local-lvm:8")
    assert exitstatus(sim_client, sim, upid) == (
        "unable to restore CT 150 - Permission check failed (/, Sys.Modify)"
    )
    assert 150 not in sim.state.cts
    upid = restore(sim_root, sim, archive, 150, rootfs="local-lvm:8")
    assert exitstatus(sim_root, sim, upid) == "OK"
