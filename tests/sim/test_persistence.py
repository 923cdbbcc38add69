"""Restart keeps CTs, volumes and archives; tasks that were running end failed."""

from __future__ import annotations

import json
from typing import Any

from felhom_provider.sim.storage import TEMPLATE_VOLID
from tests.conftest import proxmox_for
from tests.sim.helpers import exitstatus, make_archive, restore


def test_restart_keeps_state(sim_factory: Any) -> None:
    sim = sim_factory()
    root = proxmox_for(sim, "root")
    archive = make_archive(root, sim)
    assert exitstatus(root, sim, restore(root, sim, archive, 101, rootfs="local-lvm:8")) == "OK"
    assert exitstatus(root, sim, root.nodes(sim.state.node).lxc(101).status.start.post()) == "OK"
    before = root.nodes(sim.state.node).lxc(101).config.get()
    endpoint = dict(sim.endpoint)
    sim.restart()
    assert sim.endpoint == endpoint  # same port, secrets, fingerprint
    assert json.loads((sim.state_dir / "endpoint.json").read_text()) == endpoint
    agent = proxmox_for(sim, "agent")
    assert agent.nodes(sim.state.node).lxc(101).config.get() == before
    assert agent.nodes(sim.state.node).lxc(101).status.current.get()["status"] == "running"
    volids = {i["volid"] for i in agent.nodes(sim.state.node).storage("local").content.get()}
    assert volids == {TEMPLATE_VOLID, archive}
    assert {v.volid for v in sim.state.storage.owned_by(101)} == {"local-lvm:vm-101-disk-0"}


def test_running_task_fails_after_restart(sim_factory: Any) -> None:
    sim = sim_factory(manual_clock=True)
    root = proxmox_for(sim, "root")
    upid = root.nodes(sim.state.node).lxc.post(
        vmid=9000, ostemplate=TEMPLATE_VOLID, rootfs="local-lvm:4"
    )
    assert root.nodes(sim.state.node).tasks(upid).status.get()["status"] == "running"
    assert root.nodes(sim.state.node).lxc(9000).config.get()["lock"] == "create"
    sim.restart()
    root = proxmox_for(sim, "root")
    status = root.nodes(sim.state.node).tasks(upid).status.get()
    assert (status["status"], status["exitstatus"]) == ("stopped", "unexpected status")
    assert root.nodes(sim.state.node).lxc(9000).config.get()["lock"] == "create"  # as on PVE
    sim.advance(60)  # the old completion never runs
    assert root.nodes(sim.state.node).lxc(9000).config.get()["lock"] == "create"


def test_control_api_restart(sim_factory: Any) -> None:
    sim = sim_factory(manual_clock=True)
    root = proxmox_for(sim, "root")
    upid = root.nodes(sim.state.node).lxc.post(
        vmid=9000, ostemplate=TEMPLATE_VOLID, rootfs="local-lvm:4"
    )
    proxmox_for(sim, "admin")("_sim/restart").post()
    status = root.nodes(sim.state.node).tasks(upid).status.get()
    assert status["exitstatus"] == "unexpected status"
