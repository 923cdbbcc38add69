"""``reconcile.roll_plan`` field by field: the whole roll plan, the holder CT's restore
parameters, the holder record's edges, every refusal, the rootfs size floor and the preview
text (mutation-testing gaps)."""

from __future__ import annotations

from typing import Any

import pytest

from felhom_provider.errors import VerificationError
from felhom_provider.reconcile.model import MountSpec, owner_tag
from felhom_provider.reconcile.roll_plan import (
    DataMount,
    HolderRecord,
    RollPlan,
    data_mounts,
    holder_overrides,
    identity_options,
    plan_roll,
    preview_roll,
    refusals,
    rollback_overrides,
    rootfs_param,
)

OWNER = "felhom/acme/web"
MAC = "bc:24:11:aa:bb:cc"
GIB = 1024**3
CONFIG: dict[str, Any] = {
    "hostname": "acme-web",
    "net0": f"name=eth0,bridge=vmbr0,hwaddr={MAC},ip=dhcp",
    "description": f"felhom-owner={OWNER}\nfelhom-archive=local:backup/old.tar.zst\n",
    "protection": "1",
    "rootfs": "local-lvm:vm-101-disk-0,size=4G",
    "mp0": "local-lvm:vm-101-disk-1,mp=/mnt/data,size=2G",
    "unprivileged": "1",
}


def plan(config: dict[str, Any], **kw: Any) -> RollPlan:
    args: dict[str, Any] = {
        "vmid": 101,
        "owner": OWNER,
        "new_archive": "local:backup/new.tar.zst",
        "running": True,
        "rebuilt_at": "T",
        "min_rootfs_gib": 0,
    }
    return plan_roll(config, **{**args, **kw})


def test_the_whole_plan_of_a_guest() -> None:
    got = plan(CONFIG, running=False, min_rootfs_gib=6)
    assert got == RollPlan(
        vmid=101,
        owner=OWNER,
        old_archive="local:backup/old.tar.zst",
        new_archive="local:backup/new.tar.zst",
        mounts=(DataMount("mp0", "local-lvm:vm-101-disk-1", "/mnt/data", 2 * GIB),),
        mac=MAC.upper(),
        hostname="acme-web",
        rootfs_storage="local-lvm",
        rootfs_gib=6,  # the spec's minimum beats the 4 GiB it has
        protection=True,
        running=False,
        restore_overrides={
            "hostname": "acme-web",
            "net0": CONFIG["net0"],
            "protection": "1",
            "rootfs": "local-lvm:6",
            "unprivileged": 1,
            "description": f"felhom-owner={OWNER}\nfelhom-archive=local:backup/new.tar.zst\n"
            "felhom-rootfs-rebuilt=T\n",
        },
    )


def test_a_bare_guest_plans_with_empty_identity() -> None:
    """No hostname (PVE then names it CT<vmid>), no description, no MAC, no protection."""
    got = plan({"rootfs": "local-lvm:vm-7-disk-0,size=1G", "net0": "name=eth0,bridge=vmbr0"})
    assert (got.hostname, got.mac, got.old_archive, got.protection) == ("", "", "", False)
    assert got.restore_overrides == {
        "net0": "name=eth0,bridge=vmbr0",
        "rootfs": "local-lvm:1",
        "unprivileged": 1,
        "description": "felhom-archive=local:backup/new.tar.zst\nfelhom-rootfs-rebuilt=T\n",
    }


def test_a_refused_plan_names_every_problem_the_ct_and_the_step() -> None:
    config = {**CONFIG, "unused0": "local-lvm:x", "dev0": "/dev/x"}
    with pytest.raises(VerificationError) as err:
        plan(config)
    assert err.value.message == (
        "CT 101 cannot be rolled to a new golden image: dev0: a device passthrough "
        "(root-only); unused0: an unused volume (a restore over the CT frees it)"
    )
    assert err.value.context == {"vmid": 101, "step": "plan-roll"}


def test_every_refusal_is_named_even_after_a_named_key() -> None:
    config = {
        **CONFIG,
        "hookscript": "local:snippets/x.pl",
        "lxc.cgroup2.devices.allow": "a",
        "parent": "snap",
        "unused3": "local-lvm:vm-101-disk-9",
        "mp1": "/srv/host,mp=/srv",
        "lock": "backup",
        "template": "1",
    }
    assert refusals(config) == [
        "hookscript: a hookscript (root-only; a token restore cannot set it again)",
        "lxc.cgroup2.devices.allow: raw lxc.* keys (a token restore drops them)",
        "parent: snapshots (a restore over the CT destroys them; move_volume refuses)",
        "unused3: an unused volume (a restore over the CT frees it)",
        "mp1: a bind or device mount cannot move to another CT",
        "lock: the CT is locked (backup)",
        "template: a template is not rolled",
    ]


def test_data_mounts_keep_key_volume_path_and_size_in_index_order() -> None:
    config = {
        "mp10": "zfs:subvol-101-disk-3,mp=/srv/db,size=512M",
        "mp2": "local-lvm:vm-101-disk-1,mp=/mnt/data,size=4G,backup=1",
    }
    assert data_mounts(config) == (
        DataMount("mp2", "local-lvm:vm-101-disk-1", "/mnt/data", 4 * GIB),
        DataMount("mp10", "zfs:subvol-101-disk-3", "/srv/db", 512 * 1024**2),
    )


def test_identity_options_drop_empty_values() -> None:
    config = {"hostname": "a", "searchdomain": "", "nameserver": None, "net1": "name=eth1"}
    assert identity_options(config) == {"hostname": "a", "net1": "name=eth1"}


@pytest.mark.parametrize(
    ("rootfs", "min_gib", "gib"),
    [
        ("local-lvm:vm-1-disk-0,size=1G", 0, 1),
        ("local-lvm:vm-1-disk-0,size=100M", 0, 1),
        ("local-lvm:vm-1-disk-0", 0, 1),  # no size: at least 1 GiB, never 0
        ("local-lvm:vm-1-disk-0,size=2G", 3, 3),
    ],
)
def test_rootfs_is_never_smaller_than_one_gib(rootfs: str, min_gib: int, gib: int) -> None:
    assert rootfs_param({"rootfs": rootfs}, min_gib) == (f"local-lvm:{gib}", "local-lvm", gib)


def test_rollback_restores_an_unprivileged_ct() -> None:
    backup = {"hostname": "acme-web", "rootfs": "local-lvm:vm-101-disk-0,size=3G"}
    assert rollback_overrides(backup) == {
        "hostname": "acme-web",
        "rootfs": "local-lvm:3",
        "unprivileged": 1,
    }


@pytest.mark.parametrize(
    ("archive_rootfs", "gib"),
    [
        ("local-lvm:vm-9100-disk-0,size=4G", 4),
        ("local-lvm:vm-9100-disk-0,size=1G", 1),
        ("local-lvm:vm-9100-disk-0,size=1536M", 2),
        ("local-lvm:vm-9100-disk-0", 1),
        (None, 8),  # an archive config without rootfs: 8 GiB
    ],
)
def test_holder_restore_parameters(archive_rootfs: str | None, gib: int) -> None:
    record = HolderRecord(OWNER, 101, "old", "new", running=True)
    archive = {"rootfs": archive_rootfs} if archive_rootfs else {"arch": "amd64"}
    got = holder_overrides(record, storage="fast", archive_config=archive, bridge="vmbr9")
    tags = sorted(["felhom", "felhom-roll", owner_tag(f"{OWNER}#roll-holder")])
    assert got == {
        "hostname": "roll-hold-101",
        "net0": "name=eth0,bridge=vmbr9,ip=dhcp,link_down=1",
        "rootfs": f"fast:{gib}",
        "cores": 1,
        "memory": 64,
        "swap": 0,
        "onboot": 0,
        "unprivileged": 1,
        "protection": 1,
        "tags": ";".join(tags),
        "description": record.description(),
    }


def test_a_holder_record_value_may_hold_an_equals_sign() -> None:
    record = HolderRecord(OWNER, 5, "local:backup/a=b.tar", "new", running=False, backup="x=y")
    assert HolderRecord.parse(OWNER, record.description()) == record


def test_a_holder_record_without_archive_lines_reads_them_empty() -> None:
    text = f"felhom-owner={OWNER}#roll-holder\nfelhom-roll-guest=9\n"
    assert HolderRecord.parse(OWNER, text) == HolderRecord(OWNER, 9, "", "", running=False)


MOUNTS = [MountSpec("local-lvm", 4, "/mnt/data"), MountSpec("zfs", 1, "/srv/db")]
TAIL = (
    "VMID, MAC/IP, hostname, tags, description, boot and network config kept; {keys}; "
    "the old root filesystem is kept until the new one is verified"
)


@pytest.mark.parametrize(
    ("new", "mounts", "shell", "want"),
    [
        (
            "local:backup/new",
            MOUNTS,
            True,
            "update in place: root filesystem rebuilt from local:backup/new (was old); data "
            "mounts kept, moved not copied: /mnt/data (local-lvm, 4 GiB), /srv/db (zfs, 1 GiB); "
            + TAIL.format(keys="SSH host keys carried over via the node shell"),
        ),
        (
            None,
            [],
            False,
            "update in place: root filesystem rebuilt from (the new golden archive, known after "
            "it is built in this run) (was old); data mounts kept, moved not copied: none; "
            + TAIL.format(
                keys="no node shell configured: SSH host keys will CHANGE and the new ones "
                "are published"
            ),
        ),
    ],
)
def test_preview_text(new: str | None, mounts: list[MountSpec], shell: bool, want: str) -> None:
    assert preview_roll("old", new, mounts, node_shell=shell) == want
