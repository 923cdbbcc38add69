"""RollEngine against the in-memory node: success, verification failure, kills and resume."""

from __future__ import annotations

from typing import Any

import pytest

from felhom_provider.errors import FelhomError, TaskFailedError, VerificationError
from felhom_provider.pve.props import Mount, parse_pct_conf
from felhom_provider.reconcile.hostkeys import VerifiedKeys
from felhom_provider.reconcile.model import GuestSpec, MountSpec
from felhom_provider.reconcile.plan import plan_restore
from felhom_provider.reconcile.roll import RollEngine
from felhom_provider.reconcile.roll_keys import NO_SHELL_NOTE
from felhom_provider.reconcile.rollout import RolloutGate, RolloutSettings
from tests.unit.reconcile.fakes import FakeClock
from tests.unit.reconcile.roll_fake import (
    GOLDEN_NEW,
    GOLDEN_OLD,
    FakeNode,
    FakeNodeShell,
    Kill,
    golden_conf,
    public_keys,
)

DATA = "/mnt/data/customer.txt"


def new_log() -> list[str]:
    return []


def spec_for(vmid: int, archive: str = GOLDEN_NEW) -> GuestSpec:
    return GuestSpec(
        name=f"g{vmid}",
        owner=f"felhom/test/g{vmid}",
        node="pve",
        archive=archive,
        hostname=f"g{vmid}",
        cores=2,
        memory=1024,
        swap=512,
        rootfs_storage="local-lvm",
        rootfs_gib=8,
        mounts=(MountSpec("local-lvm", 1, "/mnt/data"),),
        tags=("web",),
    )


def make_guest(pve: FakeNode, vmid: int, *, running: bool = True, protection: bool = True) -> None:
    """A guest restored from the old archive, grown to 10 GiB, with a data file, started."""
    params = plan_restore(spec_for(vmid, GOLDEN_OLD), vmid, parse_pct_conf(golden_conf(9100)))
    overrides = {k: v for k, v in params.items() if k not in ("vmid", "ostemplate", "restore")}
    pve.restore_lxc(vmid, GOLDEN_OLD, overrides)
    conf = pve.cts[vmid]
    conf["rootfs"] = conf["rootfs"].replace("size=8G", "size=10G")
    volid = pve._alloc(vmid, "local-lvm")
    pve.volumes[volid][DATA] = f"data of {vmid}"
    conf.update(mp0=f"{volid},mp=/mnt/data,size=1G", onboot="1", startup="order=2")
    if protection:
        conf["protection"] = "1"
    pve.start(vmid)
    if not running:
        pve.stop(vmid)
    pve.calls.clear()
    pve._counts.clear()


def engine(pve: FakeNode, log: list[str], *, shell: bool = True) -> RollEngine:
    clock = FakeClock()
    return RollEngine(
        pve,
        FakeNodeShell(pve) if shell else None,
        progress=log.append,
        clock=clock,
        sleep=clock.sleep,
        wallclock=lambda: 1_764_400_000.0,
        probe=pve.probe,
        lease_timeout_s=5,
        hostkey_timeout_s=5,
    )


def snapshot(pve: FakeNode, vmid: int) -> dict[str, Any]:
    conf = pve.cts[vmid]
    return {
        "net0": conf["net0"],
        "hostname": conf["hostname"],
        "tags": conf["tags"],
        "onboot": conf.get("onboot"),
        "startup": conf.get("startup"),
        "protection": conf.get("protection"),
        "ip": pve.interfaces(vmid) if vmid in pve.running else None,
        "keys": {p: v for p, v in pve.rootfs_files(vmid).items() if "ssh_host" in p},
        "data": pve.mount_files(vmid, "mp0"),
        "running": vmid in pve.running,
    }


def assert_clean(pve: FakeNode, vmids: set[int]) -> None:
    """Only the guests exist; one rootfs and one data volume each; no roll backups left."""
    assert set(pve.cts) == vmids
    for vmid in vmids:
        owned = sorted(v for v in pve.volumes if f"vm-{vmid}-" in v)
        assert len(owned) == 2, owned
    assert set(pve.archives) == {GOLDEN_OLD, GOLDEN_NEW}


def assert_data_owned_once(pve: FakeNode) -> None:
    """Every volume holding data is referenced by exactly one CT config."""
    for volid, files in pve.volumes.items():
        if DATA.split("/")[1] in "".join(files):
            refs = [v for v, c in pve.cts.items() for val in c.values() if volid in str(val)]
            assert len(refs) == 1, (volid, refs)


def test_roll_keeps_data_identity_and_host_keys() -> None:
    pve, log = FakeNode(), new_log()
    make_guest(pve, 101)
    before = snapshot(pve, 101)
    result = engine(pve, log).roll(101, spec_for(101))
    after = snapshot(pve, 101)
    assert after == before  # MAC, hostname, tags, boot keys, protection, IP, keys, data
    assert after["data"] is before["data"]  # the very same volume content: moved, not copied
    conf = pve.cts[101]
    assert pve.rootfs_files(101)["/etc/os-release"] == "new"
    assert Mount.parse(conf["rootfs"]).size == 10 * 2**30  # the grown size kept
    assert result.archive == GOLDEN_NEW and result.state.archive == GOLDEN_NEW
    assert result.outputs() == {"archive": GOLDEN_NEW, "rootfsRebuiltAt": "2025-11-29T07:06:40Z"}
    assert result.host_keys_carried
    # published like a fresh bring-up: the full public keys and their fingerprints
    public = public_keys(pve.rootfs_files(101))
    assert set(public) == {"ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa"}
    assert result.state.host_public_keys == public
    assert result.state.host_keys == VerifiedKeys(public).fingerprints
    assert all(v.startswith("SHA256:") for v in result.state.host_keys.values())
    assert_clean(pve, {101})
    # protection was cleared only right before the restore over the guest, which set it again
    puts = [arg for name, arg in pve.calls if name == "put_config" and arg[0] == 101]
    assert puts == [(101, {"protection": 0})]


def test_roll_is_a_noop_on_the_current_archive() -> None:
    pve, log = FakeNode(), new_log()
    make_guest(pve, 101)
    result = engine(pve, log).roll(101, spec_for(101, GOLDEN_OLD))
    assert result.archive == GOLDEN_OLD
    assert [c for c in pve.calls if c[0] != "list_lxc"] == []


def test_broken_docker_puts_the_old_rootfs_back() -> None:
    pve, log = FakeNode(), new_log()
    pve.archives[GOLDEN_NEW].files["/etc/os-release"] = "broken-docker"
    make_guest(pve, 101)
    before = snapshot(pve, 101)
    with pytest.raises(VerificationError) as info:
        engine(pve, log).roll(101, spec_for(101))
    err = info.value
    assert err.context["guest"] == "g101" and err.context["step"] == "docker"
    assert "hello-world" in str(err) and "back on" in err.context["rolled_back"]
    assert snapshot(pve, 101) == before
    assert pve.rootfs_files(101)["/etc/os-release"] == "old"
    assert_clean(pve, {101})
    assert err.journal is not None and err.journal.steps()[:2] == ["read-identity", "holder"]


def test_failed_restore_over_drops_the_config_and_the_backup_brings_it_back() -> None:
    pve, log = FakeNode(), new_log()
    make_guest(pve, 101)
    before = snapshot(pve, 101)
    pve.fail_task["restore"] = 2  # 1 is the holder; 2 the restore over the guest
    with pytest.raises(TaskFailedError) as info:
        engine(pve, log).roll(101, spec_for(101))
    assert info.value.context["step"] == "restore-new-rootfs"
    assert snapshot(pve, 101) == before
    assert_clean(pve, {101})


KILL_POINTS = [
    ("restore", 1, "after"),  # holder restored, nothing moved
    ("shutdown", 1, "after"),
    ("move_volume", 1, "after"),  # data parked on the holder
    ("vzdump", 1, "after"),  # backup made, not yet recorded
    ("put_config", 1, "after"),  # backup recorded
    ("put_config", 2, "after"),  # protection cleared
    ("restore", 2, "before"),
    ("restore", 2, "after"),  # new rootfs, data still on the holder
    ("move_volume", 2, "after"),  # data back, not verified
    ("start", 1, "after"),
    ("put_config", 3, "after"),  # verified: the commit point
    ("put_config", 4, "before"),  # holder protection being cleared
    ("destroy", 1, "after"),
    ("delete_volume", 1, "before"),
]


@pytest.mark.parametrize("kill", KILL_POINTS, ids=lambda k: f"{k[2]}-{k[0]}-{k[1]}")
def test_killed_roll_resumes_to_one_rootfs_with_data(kill: tuple[str, int, str]) -> None:
    pve, log = FakeNode(), new_log()
    make_guest(pve, 101)
    before = snapshot(pve, 101)
    pve.kill = kill
    with pytest.raises(Kill):
        engine(pve, log).roll(101, spec_for(101))
    assert_data_owned_once(pve)
    pve.kill = None
    result = engine(pve, log).roll(101, spec_for(101))  # a fresh process: nothing in memory
    assert result.archive == GOLDEN_NEW
    assert pve.rootfs_files(101)["/etc/os-release"] == "new"
    assert snapshot(pve, 101) == before
    assert_clean(pve, {101})


def test_without_a_node_shell_new_keys_are_published_and_said() -> None:
    pve, log = FakeNode(), new_log()
    make_guest(pve, 101)
    before = snapshot(pve, 101)
    result = engine(pve, log, shell=False).roll(101, spec_for(101))
    after = snapshot(pve, 101)
    assert after["keys"] != before["keys"] and after["data"] is before["data"]
    assert not result.host_keys_carried
    assert result.state.host_public_keys == public_keys(pve.rootfs_files(101))
    assert result.state.host_keys == VerifiedKeys(result.state.host_public_keys).fingerprints
    assert any(NO_SHELL_NOTE in line for line in log)
    assert any("Docker not checked" in line for line in log)
    assert_clean(pve, {101})


def test_a_stopped_guest_is_verified_and_left_stopped() -> None:
    pve, log = FakeNode(), new_log()
    make_guest(pve, 101, running=False, protection=False)
    result = engine(pve, log).roll(101, spec_for(101))
    assert result.state.status == "stopped" and 101 not in pve.running
    assert "protection" not in pve.cts[101]
    assert ("start", 101) in pve.calls  # verified by a start, then stopped again
    assert_clean(pve, {101})


@pytest.mark.parametrize(
    ("key", "value", "why"),
    [
        ("unused0", "local-lvm:vm-101-disk-9", "unused volume"),
        ("mp1", "/srv/host,mp=/srv", "bind or device"),
        ("dev0", "/dev/net/tun", "device passthrough"),
        ("parent", "snap1", "snapshots"),
        ("lock", "backup", "locked"),
    ],
)
def test_what_a_roll_cannot_carry_is_refused_before_any_change(
    key: str, value: str, why: str
) -> None:
    pve, log = FakeNode(), new_log()
    make_guest(pve, 101)
    pve.cts[101][key] = value
    eng = engine(pve, log)
    eng.lease_timeout_s = 0  # a locked CT is waited on; keep the test short
    eng.roll_client = pve
    with pytest.raises(VerificationError, match=why) as info:
        eng.roll(101, spec_for(101))
    assert info.value.context["step"] == "plan-roll" and info.value.context["guest"] == "g101"
    assert [c for c in pve.calls if c[0] != "list_lxc"] == []


def test_a_failure_pauses_the_rollout_and_the_rest_stay_on_the_old_image() -> None:
    pve, log = FakeNode(), new_log()
    pve.archives[GOLDEN_NEW].files["/etc/os-release"] = "broken-docker"
    for vmid in (101, 102):
        make_guest(pve, vmid)
    gate = RolloutGate("acme", RolloutSettings(max_parallel=1, pause_on_failure=True))
    eng = engine(pve, log)
    with pytest.raises(VerificationError):
        eng.roll(101, spec_for(101), gate=gate)
    pve.calls.clear()
    with pytest.raises(FelhomError, match="paused after a failed roll") as info:
        eng.roll(102, spec_for(102), gate=gate)
    assert "g101" in str(info.value) and info.value.context["guest"] == "g102"
    assert [c for c in pve.calls if c[0] != "list_lxc"] == []
    assert pve.rootfs_files(102)["/etc/os-release"] == "old"


def test_a_run_killed_after_the_commit_point_finishes_without_restoring_again() -> None:
    pve, log = FakeNode(), new_log()
    make_guest(pve, 101)
    pve.kill = ("put_config", 3, "after")  # the holder record says verified
    with pytest.raises(Kill):
        engine(pve, log).roll(101, spec_for(101))
    pve.kill, pve.calls = None, []
    engine(pve, log).roll(101, spec_for(101))
    assert not [c for c in pve.calls if c[0] in ("restore", "move_volume", "vzdump")]
    assert any("finishing an interrupted roll" in line for line in log)
    assert_clean(pve, {101})


def test_a_run_killed_before_the_commit_point_is_rolled_back_then_rolled_again() -> None:
    pve, log = FakeNode(), new_log()
    make_guest(pve, 101)
    pve.kill = ("move_volume", 2, "after")  # new rootfs with its data, not verified
    with pytest.raises(Kill):
        engine(pve, log).roll(101, spec_for(101))
    pve.kill = None
    engine(pve, log).roll(101, spec_for(101))
    assert any("rolling back an interrupted roll" in line for line in log)
    restores = [arg for name, arg in pve.calls if name == "restore"]
    assert restores[2][1].startswith("local:backup/vzdump-lxc-101-")  # the old rootfs back
    assert restores[-1] == (101, GOLDEN_NEW)
