"""Files on mount points live on the mount's volume: they move with ``move_volume``, die with
a destroyed volume (restore over the CT) and travel in backups only with ``backup=1``."""

from __future__ import annotations

from typing import Any

import requests

from felhom_provider.sim.server import SimServer
from tests.sim_guest.nodeshell_client import NodeShellClient
from tests.sim_guest.runbook import Golden, build_golden, ok, restore, start, wait_task

DATA = "local-lvm:1,mp=/srv/data"


def _write(node: NodeShellClient, vmid: int, text: str) -> None:
    ok(node.pct_exec(vmid, "sh", "-c", "cat > /srv/data/note.txt", stdin=text))


def _read(node: NodeShellClient, vmid: int) -> Any:
    return node.pct_exec(vmid, "cat", "/srv/data/note.txt")


def _stop(api: Any, sim: SimServer, vmid: int) -> None:
    assert wait_task(api, sim.state.node, api.nodes(sim.state.node).lxc(vmid).status.stop.post())


def _setup(guest_sim: SimServer, node: NodeShellClient, api: Any) -> Golden:
    golden = build_golden(node)
    restore(api, guest_sim.state.node, golden, 301, mp0=DATA, rootfs="local-lvm:8")
    restore(api, guest_sim.state.node, golden, 302, rootfs="local-lvm:8")
    start(api, guest_sim.state.node, 301)
    _write(node, 301, "customer data\n")
    return golden


def test_mount_files_live_on_the_volume_and_move_with_it(
    guest_sim: SimServer, node: NodeShellClient, api: Any
) -> None:
    _setup(guest_sim, node, api)
    vol = guest_sim.state.storage.get("local-lvm:vm-301-disk-1")
    assert vol is not None and vol.files["/note.txt"][1] == "customer data\n"
    assert "/srv/data/note.txt" not in guest_sim.state.cts[301].guest["fs"]
    _stop(api, guest_sim, 301)
    upid = (
        api.nodes(guest_sim.state.node)
        .lxc(301)
        .move_volume.post(volume="mp0", **{"target-vmid": 302})
    )
    assert wait_task(api, guest_sim.state.node, upid) == "OK"
    start(api, guest_sim.state.node, 302)
    assert _read(node, 302).out == "customer data\n"
    start(api, guest_sim.state.node, 301)
    gone = _read(node, 301)
    assert gone.code == 1 and "No such file or directory" in gone.err
    assert ok(node.pct_exec(301, "test", "-d", "/srv/data"))  # the mount directory stays


def test_restore_over_destroys_data_unless_moved_out_first(
    guest_sim: SimServer, node: NodeShellClient, api: Any
) -> None:
    golden = _setup(guest_sim, node, api)
    n = guest_sim.state.node
    _stop(api, guest_sim, 301)
    # Move the data out to 302, restore over 301, move it back: the file survives.
    mv = api.nodes(n).lxc(301).move_volume.post(volume="mp0", **{"target-vmid": 302})
    assert wait_task(api, n, mv) == "OK"
    restore(api, n, golden, 301, force=1, rootfs="local-lvm:8")
    back = api.nodes(n).lxc(302).move_volume.post(volume="mp0", **{"target-vmid": 301})
    assert wait_task(api, n, back) == "OK"
    start(api, n, 301)
    assert _read(node, 301).out == "customer data\n"
    _stop(api, guest_sim, 301)
    # Restore over it with the data mount still attached: destroy_lxc_container frees it.
    data_volid = api.nodes(n).lxc(301).config.get()["mp0"].split(",")[0]
    restore(api, n, golden, 301, force=1, rootfs="local-lvm:8", mp0=DATA)
    assert guest_sim.state.storage.get(data_volid) is None
    start(api, n, 301)
    assert _read(node, 301).code == 1


def test_failed_extraction_after_destroy_loses_config_and_volumes(
    guest_sim: SimServer, node: NodeShellClient, api: Any
) -> None:
    golden = _setup(guest_sim, node, api)
    n = guest_sim.state.node
    _stop(api, guest_sim, 301)
    guest_sim.add_task_fault("vzrestore-extract", "tar: short read", vmid=301)
    upid = api.nodes(n).lxc.post(
        vmid=301, ostemplate=golden.archive, restore=1, force=1, rootfs="local-lvm:8"
    )
    assert wait_task(api, n, upid) == "unable to restore CT 301 - tar: short read"
    assert 301 not in guest_sim.state.cts
    assert guest_sim.state.storage.owned_by(301) == []


def test_backup_carries_mount_data_only_with_backup_flag(
    guest_sim: SimServer, node: NodeShellClient, api: Any
) -> None:
    golden = _setup(guest_sim, node, api)
    n = guest_sim.state.node
    _stop(api, guest_sim, 301)
    for flag, expect in (("0", 1), ("1", 0)):
        value = f"local-lvm:vm-301-disk-1,mp=/srv/data,backup={flag},size=1G"
        api.nodes(n).lxc(301).config.put(mp0=value)
        ok(node.run("vzdump 301 --storage local --mode stop"))
        items = api.nodes(n).storage("local").content.get(content="backup", vmid=301)
        archive = max(items, key=lambda i: (i["ctime"], i["volid"]))["volid"]
        vmid = 310 + int(flag)
        restore(api, n, Golden(archive, golden.mac), vmid, unique=1)
        # Gone before the next dump, which may get the same name within the same second.
        gone = api.nodes(n).storage("local").content(archive).delete()
        assert wait_task(api, n, gone) == "OK"
        start(api, n, vmid)
        assert _read(node, vmid).code == expect
        mp0 = api.nodes(n).lxc(vmid).config.get()["mp0"]
        assert mp0.startswith(f"local-lvm:vm-{vmid}-disk-1,mp=/srv/data")


def test_docker_broken_archive_variant(
    guest_sim: SimServer, node: NodeShellClient, api: Any
) -> None:
    golden = build_golden(node)
    n = guest_sim.state.node
    res = requests.post(
        guest_sim.endpoint["api_url"] + "/api2/json/_sim/archives/docker-broken",
        data={"volume": golden.archive},
        headers=_auth(guest_sim),
        verify=False,
        timeout=10,
    )
    assert res.status_code == 200, res.text
    restore(api, n, golden, 320, rootfs="local-lvm:8")
    start(api, n, 320)
    hello = node.pct_exec(320, "docker", "run", "--rm", "hello-world")
    assert hello.code == 125 and "Cannot connect to the Docker daemon" in hello.err
    assert node.pct_exec(320, "systemctl", "is-active", "docker").out == "failed\n"
    # The rest of the guest is the archive as it was.
    assert ok(node.pct_exec(320, "systemctl", "is-active", "containerd")).out == "active\n"


def _auth(sim: SimServer) -> dict[str, str]:
    token = sim.endpoint["tokens"]["admin"]  # the control API answers the admin token only
    return {"Authorization": f"PVEAPIToken={token['id']}={token['secret']}"}
