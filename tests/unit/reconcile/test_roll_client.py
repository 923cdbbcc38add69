"""The roll-out client methods (``move_volume_to``, ``restore_over``) against the simulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from felhom_provider.errors import ConfigError, PermanentPveError
from felhom_provider.pve import PveClient, PveEndpoint, RetrySettings
from felhom_provider.pve.props import Mount

TEMPLATE = "local:vztmpl/debian-13-standard_13.1-2_amd64.tar.zst"


@pytest.fixture
def api(sim: Any) -> PveClient:
    endpoint = PveEndpoint.from_endpoint_json(Path(sim.state_dir) / "endpoint.json")
    return PveClient(endpoint, retry=RetrySettings(attempts=2, jitter_s=0.0), sleep=lambda _s: None)


def create(api: PveClient, vmid: int, **extra: Any) -> None:
    params = {
        "ostemplate": TEMPLATE,
        "hostname": f"ct{vmid}",
        "rootfs": "local-lvm:4",
        "net0": "name=eth0,bridge=vmbr0,ip=dhcp",
        "unprivileged": True,
        **extra,
    }
    api.wait_task(api.create_lxc(vmid, params), timeout_s=60)


def test_move_volume_to_hands_the_volume_to_the_target_renamed(api: PveClient) -> None:
    create(api, 201, mp0="local-lvm:1,mp=/mnt/data")
    create(api, 202)
    upid = api.move_volume_to(201, "mp0", 202)
    assert upid.type == "move_volume" and upid.id == "201-mp0>202-mp0"
    api.wait_task(upid, timeout_s=60)
    assert "mp0" not in api.get_config(201)
    moved = Mount.parse(api.get_config(202)["mp0"])
    assert moved.volume.startswith("local-lvm:vm-202-disk-") and moved.mp == "/mnt/data"


def test_move_volume_to_refuses_rootfs(api: PveClient) -> None:
    create(api, 201)
    create(api, 202)
    with pytest.raises(PermanentPveError, match="Cannot move to/from 'rootfs'"):
        api.move_volume_to(201, "rootfs", 202, "mp0")


def test_restore_over_refuses_a_protected_ct_and_start(api: PveClient) -> None:
    create(api, 201, protection=1)
    api.wait_task(api.vzdump(201, "local"), timeout_s=60)
    [item] = api.storage_content("local", content="backup", vmid=201)
    with pytest.raises(PermanentPveError, match="protection mode enabled"):
        api.restore_over(201, str(item["volid"]), {"rootfs": "local-lvm:4"})
    with pytest.raises(ConfigError):
        api.restore_over(201, str(item["volid"]), {"rootfs": "local-lvm:4", "start": 1})
    api.put_config(201, protection=0)
    upid = api.restore_over(201, str(item["volid"]), {"rootfs": "local-lvm:4"})
    api.wait_task(upid, timeout_s=60)
    assert api.get_config(201)["hostname"] == "ct201"
