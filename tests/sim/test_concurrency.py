"""Concurrent calls against the config lock, and tasks on a scaled clock."""

from __future__ import annotations

import threading
from typing import Any

from felhom_provider.sim.storage import TEMPLATE_VOLID
from tests.conftest import proxmox_for
from tests.sim.helpers import error_of, exitstatus, make_archive, restore

LOCK_TIMEOUT = "can't lock file '/run/lock/lxc/pve-config-101.lock' - got timeout"


def test_config_put_during_resize_times_out(sim_factory: Any) -> None:
    """The seed's F4: a resize task holds the config lock; a PUT meanwhile gets the 500."""
    sim = sim_factory(manual_clock=True)
    agent, root = proxmox_for(sim, "agent"), proxmox_for(sim, "root")
    archive_upid = root.nodes(sim.state.node).lxc.post(
        vmid=9000, ostemplate=TEMPLATE_VOLID, rootfs="local-lvm:8"
    )
    sim.advance(60)
    assert exitstatus(root, sim, archive_upid) == "OK"
    dump = root.nodes(sim.state.node).vzdump.post(vmid="9000", mode="stop")
    sim.advance(60)
    assert exitstatus(root, sim, dump) == "OK"
    archive = root.nodes(sim.state.node).storage("local").content.get(content="backup")[0]["volid"]
    upid = restore(agent, sim, archive, 101, rootfs="local-lvm:8")
    # A running restore holds the flock: edits time out instead of seeing "CT is locked (create)".
    exc = error_of(agent.nodes(sim.state.node).lxc(101).config.put, hostname="x")
    assert (exc.status_code, exc.content) == (500, LOCK_TIMEOUT)
    sim.advance(60)
    assert exitstatus(agent, sim, upid) == "OK"
    resize = agent.nodes(sim.state.node).lxc(101).resize.put(disk="rootfs", size="+1G")
    errors: list[Any] = []

    def put() -> None:
        errors.append(
            error_of(agent.nodes(sim.state.node).lxc(101).config.put, mp0="local-lvm:1,mp=/data")
        )

    thread = threading.Thread(target=put)
    thread.start()
    thread.join(timeout=30)
    assert (errors[0].status_code, errors[0].content) == (500, LOCK_TIMEOUT)
    sim.advance(5)
    assert exitstatus(agent, sim, resize) == "OK"
    agent.nodes(sim.state.node).lxc(101).config.put(mp0="local-lvm:1,mp=/data")  # retry succeeds


def test_scaled_clock_tasks_progress(sim_factory: Any) -> None:
    sim = sim_factory(time_scale=0.001)
    root = proxmox_for(sim, "root")
    upid = root.nodes(sim.state.node).lxc.post(
        vmid=9000, ostemplate=TEMPLATE_VOLID, rootfs="local-lvm:4"
    )
    assert sim.state.wait_idle(timeout=10)
    assert exitstatus(root, sim, upid) == "OK"


def test_parallel_restores(sim_factory: Any) -> None:
    sim = sim_factory()
    root = proxmox_for(sim, "root")
    archive = make_archive(root, sim)
    upids: dict[int, str] = {}

    def go(vmid: int) -> None:
        client = proxmox_for(sim, "agent")
        upids[vmid] = restore(client, sim, archive, vmid, rootfs="local-lvm:8",
                              net0="name=eth0,bridge=vmbr0,ip=dhcp")  # fmt: skip

    threads = [threading.Thread(target=go, args=(v,)) for v in range(300, 308)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(upids) == list(range(300, 308))
    macs = {sim.state.cts[v].conf["net0"] for v in upids}
    assert len(macs) == 8
