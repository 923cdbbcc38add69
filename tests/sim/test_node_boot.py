"""Node reboot: onboot guests come back in startup order, with their up delays on the clock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests

from felhom_provider.sim.clock import DEFAULT_DURATIONS, ManualClock
from felhom_provider.sim.node_boot import parse_startup
from felhom_provider.sim.server import SimServer
from tests.conftest import proxmox_for
from tests.sim.helpers import error_of, exitstatus, make_archive, restore, task_log

FLEET: dict[int, dict[str, Any]] = {
    501: {"onboot": 1, "startup": "order=2"},
    502: {"onboot": 1, "startup": "order=1,up=30"},
    503: {"onboot": 0},
    504: {"onboot": 1},
    505: {"onboot": 1, "startup": "1"},
}


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("order=2,up=30,down=60", {"order": 2, "up": 30, "down": 60}),
        ("3", {"order": 3}),
        ("up=5", {"up": 5}),
        ("", {}),
    ],
)
def test_parse_startup(text: str, parsed: dict[str, int]) -> None:
    assert parse_startup(text) == parsed


def _fleet(sim: SimServer) -> Any:
    root = proxmox_for(sim, "root")
    archive = make_archive(root, sim)
    node = root.nodes(sim.state.node)
    for vmid, extra in FLEET.items():
        assert (
            exitstatus(
                root,
                sim,
                restore(root, sim, archive, vmid, unique=1, rootfs="local-lvm:8", **extra),
            )
            == "OK"
        )
        assert exitstatus(root, sim, node.lxc(vmid).status.start.post()) == "OK"
    return root


def _running(sim: SimServer) -> set[int]:
    return {v for v, ct in sim.state.cts.items() if ct.status == "running"}


def test_reboot_starts_onboot_guests_in_order_with_up_delays(
    sim_factory: Callable[..., SimServer],
) -> None:
    instant = {k: 0.0 for k in DEFAULT_DURATIONS}
    sim = sim_factory(clock=ManualClock(durations=instant))
    root = _fleet(sim)
    sim.state.cts[504].conf["lock"] = "backup"  # left over by a backup the reboot cut off
    upid = sim.node_reboot()
    assert _running(sim) == {502}  # order 1 first; then 30 s (up) before the next
    sim.advance(29)
    assert _running(sim) == {502}
    sim.advance(1)
    assert _running(sim) == {501, 502, 504, 505}  # 503 has onboot=0
    assert exitstatus(root, sim, upid) == "OK"
    assert task_log(root, sim, upid)[:6] == [
        "removed left over backup lock from '504'!",
        "Starting CT 502",
        "Waiting for 30 seconds (startup delay)",
        "Starting CT 505",
        "Starting CT 501",
        "Starting CT 504",
    ]
    assert ":startall::root@pam:" in upid


def test_reboot_control_endpoint_and_failed_start(sim: SimServer) -> None:
    root = _fleet(sim)
    sim.add_task_fault("vzstart", "startup for container '505' failed", vmid=505)
    token = sim.endpoint["tokens"]["admin"]  # the control API answers the admin token only
    res = requests.post(
        sim.endpoint["api_url"] + "/api2/json/_sim/node/reboot",
        headers={"Authorization": f"PVEAPIToken={token['id']}={token['secret']}"},
        verify=False,
        timeout=10,
    )
    assert res.status_code == 200, res.text
    upid = res.json()["data"]["upid"]
    assert sim.state.wait_idle()
    assert _running(sim) == {501, 502, 504}
    assert "Starting CT 505 failed: startup for container '505' failed" in task_log(root, sim, upid)


@pytest.mark.parametrize(
    ("params", "errors"),
    [
        ({"startup": "order=x"}, {"startup": "unable to parse startup options"}),
        ({"startup": "first"}, {"startup": "unable to parse startup options"}),
        (
            {"nameserver": "dns.example"},
            {"nameserver": "value does not look like a valid IP address"},
        ),
    ],
)
def test_startup_and_nameserver_formats(
    sim: SimServer, sim_root: Any, params: dict[str, Any], errors: dict[str, str]
) -> None:
    archive = make_archive(sim_root, sim)
    assert exitstatus(sim_root, sim, restore(sim_root, sim, archive, 510, rootfs="local-lvm:8"))
    exc = error_of(sim_root.nodes(sim.state.node).lxc(510).config.put, **params)
    assert (exc.status_code, exc.errors) == (400, errors)
    sim_root.nodes(sim.state.node).lxc(510).config.put(
        startup="2,up=10", nameserver="127.0.0.53 fe80::1%eth0"
    )
