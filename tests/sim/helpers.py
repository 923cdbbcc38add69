"""Helpers shared by the simulator tests: build a golden CT and archive, read tasks."""

from __future__ import annotations

import re
from typing import Any

from proxmoxer.core import ResourceException

from felhom_provider.sim.server import SimServer
from felhom_provider.sim.storage import TEMPLATE_VOLID

UPID_RE = re.compile(
    r"^UPID:[a-zA-Z0-9][a-zA-Z0-9\-]*:[0-9A-F]{8}:[0-9A-F]{8,9}:[0-9A-F]{8}:[^:\s/]+:[^:\s/]*:[^:\s/]+:$"
)
GOLDEN_NET = "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:63:43:F4,ip=dhcp,type=veth"


def task_status(client: Any, sim: SimServer, upid: str) -> dict[str, Any]:
    """The task's status object."""
    return dict(client.nodes(sim.state.node).tasks(upid).status.get())


def exitstatus(client: Any, sim: SimServer, upid: str) -> str:
    """The exitstatus of a finished task (instant clock: tasks finish before returning)."""
    status = task_status(client, sim, upid)
    assert status["status"] == "stopped", status
    return str(status["exitstatus"])


def task_log(client: Any, sim: SimServer, upid: str) -> list[str]:
    """All log lines of a task."""
    return [line["t"] for line in client.nodes(sim.state.node).tasks(upid).log.get(limit=0)]


def create_golden(root: Any, sim: SimServer, vmid: int = 9000, **extra: Any) -> int:
    """Create the golden CT as root@pam (keyctl needs root) and return its vmid."""
    params: dict[str, Any] = {
        "vmid": vmid,
        "ostemplate": TEMPLATE_VOLID,
        "hostname": "felhom-golden",
        "rootfs": "local-lvm:8",
        "features": "nesting=1,keyctl=1",
        "net0": GOLDEN_NET,
        "cores": 2,
        "memory": 2048,
        "swap": 512,
    }
    params.update(extra)
    upid = root.nodes(sim.state.node).lxc.post(**params)
    assert exitstatus(root, sim, upid) == "OK"
    return vmid


def make_archive(root: Any, sim: SimServer, vmid: int = 9000, **extra: Any) -> str:
    """Create the golden CT and back it up; returns the archive volid."""
    create_golden(root, sim, vmid, **extra)
    return backup(root, sim, vmid)


def backup(client: Any, sim: SimServer, vmid: int) -> str:
    """vzdump ``vmid`` (mode stop, zstd) to ``local`` and return the new archive's volid."""
    node = sim.state.node
    upid = client.nodes(node).vzdump.post(
        vmid=str(vmid), mode="stop", compress="zstd", storage="local"
    )
    assert exitstatus(client, sim, upid) == "OK", task_log(client, sim, upid)
    items = client.nodes(node).storage("local").content.get(content="backup", vmid=vmid)
    return str(max(items, key=lambda i: (i["ctime"], i["volid"]))["volid"])


def restore(client: Any, sim: SimServer, archive: str, vmid: int, **params: Any) -> str:
    """POST a restore and return the UPID."""
    return str(
        client.nodes(sim.state.node).lxc.post(vmid=vmid, ostemplate=archive, restore=1, **params)
    )


def config(client: Any, sim: SimServer, vmid: int) -> dict[str, Any]:
    """GET …/config."""
    return dict(client.nodes(sim.state.node).lxc(vmid).config.get())


def error_of(call: Any, *args: Any, **kw: Any) -> ResourceException:
    """Run ``call`` and return the ResourceException it must raise."""
    try:
        call(*args, **kw)
    except ResourceException as exc:
        return exc
    raise AssertionError("expected a ResourceException")
