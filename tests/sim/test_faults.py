"""Every fault kind: HTTP error N times / by probability / after a delay, drop, task, lock."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from proxmoxer.core import ResourceException

from felhom_provider.sim.server import SimServer
from tests.conftest import proxmox_for
from tests.sim.helpers import create_golden, error_of, exitstatus

CONFIG = "/nodes/{node}/lxc/{vmid}/config"


def test_http_error_n_times(sim: SimServer, sim_root: Any) -> None:
    create_golden(sim_root, sim)
    sim.add_http_fault("GET", CONFIG, status=503, message="service busy\nsecond line", times=2)
    res = sim_root.nodes(sim.state.node).lxc(9000).config
    for _ in range(2):
        exc = error_of(res.get)
        assert (exc.status_code, exc.content) == (503, "service busy")
    assert res.get()["hostname"] == "felhom-golden"
    assert sim.state.faults.to_json()["http"][0]["hits"] == 2


def test_http_error_by_regex_and_probability(sim: SimServer, sim_client: Any) -> None:
    sim.add_http_fault("*", r"/version", status=500, message="never", times=None, probability=0.0)
    assert sim_client.version.get()["release"] == "9.1"
    sim.clear_faults()
    sim.add_http_fault("GET", r"/vers.*", status=500, message="flaky", times=None, probability=0.5)
    outcomes = []
    for _ in range(60):
        try:
            sim_client.version.get()
            outcomes.append(True)
        except ResourceException as exc:
            assert exc.content == "flaky"
            outcomes.append(False)
    assert any(outcomes) and not all(outcomes)


def test_delay_then_normal_answer(sim: SimServer, sim_client: Any) -> None:
    sim.add_http_fault("GET", "/version", action="delay", delay=0.01)
    assert sim_client.version.get()["release"] == "9.1"
    assert sim.state.faults.to_json()["http"][0]["hits"] == 1


def test_drop_connection(sim: SimServer, sim_client: Any) -> None:
    sim.add_http_fault("POST", "/nodes/{node}/lxc/{vmid}/status/start", action="drop")
    create_golden(proxmox_for(sim, "root"), sim)
    with pytest.raises(requests.exceptions.ConnectionError):
        sim_client.nodes(sim.state.node).lxc(9000).status.start.post()
    assert sim.state.cts[9000].status == "stopped"  # the dropped request never ran
    upid = sim_client.nodes(sim.state.node).lxc(9000).status.start.post()
    assert exitstatus(sim_client, sim, upid) == "OK"


def test_task_fault(sim: SimServer, sim_root: Any) -> None:
    create_golden(sim_root, sim)
    failure = "command 'systemctl start pve-container@9000' failed: exit code 1"
    sim.add_task_fault("vzstart", failure, vmid=9000)
    res = sim_root.nodes(sim.state.node).lxc(9000).status.start
    assert exitstatus(sim_root, sim, res.post()).startswith("command 'systemctl start")
    assert sim.state.cts[9000].status == "stopped"
    assert exitstatus(sim_root, sim, res.post()) == "OK"


def test_hold_lock(sim_factory: Any) -> None:
    sim = sim_factory(manual_clock=True)
    root = proxmox_for(sim, "root")
    upid = root.nodes(sim.state.node).lxc.post(
        vmid=9000,
        ostemplate="local:vztmpl/debian-13-standard_13.1-2_amd64.tar.zst",
        rootfs="local-lvm:4",
    )
    sim.advance(30)
    assert exitstatus(root, sim, upid) == "OK"
    sim.hold_lock(9000, 20)
    exc = error_of(root.nodes(sim.state.node).lxc(9000).config.put, cores=2)
    assert (exc.status_code, exc.content) == (
        500, "can't lock file '/run/lock/lxc/pve-config-9000.lock' - got timeout"
    )  # fmt: skip
    start = root.nodes(sim.state.node).lxc(9000).status.start.post()  # waits inside the worker
    sim.state.wait_idle(timeout=5)
    assert exitstatus(root, sim, start) == (
        "can't lock file '/run/lock/lxc/pve-config-9000.lock' - got timeout"
    )
    sim.advance(21)
    root.nodes(sim.state.node).lxc(9000).config.put(cores=2)


def test_control_api(sim: SimServer, sim_root: Any, sim_client: Any) -> None:
    create_golden(sim_root, sim)
    ctl = proxmox_for(sim, "admin")("_sim")  # the control API wants the admin token
    rule = ctl("faults/http").post(
        method="GET", path="/nodes/{node}/lxc", status=502, message="bad gw"
    )
    exc = error_of(sim_client.nodes(sim.state.node).lxc.get)
    assert (exc.status_code, exc.content) == (502, "bad gw")
    ctl("faults/task").post(type="vzstart", exitstatus="boom", vmid=9000, times=0)
    assert len(ctl.faults.get()["tasks"]) == 1
    assert ctl.faults(rule["id"]).delete() is True
    assert isinstance(sim_client.nodes(sim.state.node).lxc.get(), list)
    ctl.locks(9000).post(seconds=0)
    ctl.faults.delete()
    assert ctl.faults.get() == {"http": [], "tasks": []}
    audit = ctl.audit.get()
    assert audit["cts"][0]["vmid"] == 9000 and audit["cts"][0]["macs"] == ["BC:24:11:63:43:F4"]
    assert audit["requests"]["GET /nodes/{node}/lxc"] == 2
    exc = error_of(ctl("clock/advance").post, seconds=1)
    assert exc.status_code == 400
