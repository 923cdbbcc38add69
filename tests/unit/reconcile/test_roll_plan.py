"""roll_plan: the parameters, durable record and preview of a golden roll, from data."""

from __future__ import annotations

from typing import Any

import pytest

from felhom_provider.errors import VerificationError
from felhom_provider.pve.props import parse_pct_conf
from felhom_provider.reconcile.model import MountSpec, owner_of
from felhom_provider.reconcile.roll_plan import (
    DataMount,
    HolderRecord,
    backup_notes,
    holder_overrides,
    identity_options,
    is_roll_backup,
    mounts_match,
    new_description,
    plan_roll,
    preview_roll,
    rebuilt_at_of,
    refusals,
    roll_outputs,
    rollback_overrides,
    rootfs_param,
)

OWNER = "felhom/acme/web"
MAC = "BC:24:11:AA:BB:CC"
GUEST = {
    "hostname": "acme-web",
    "net0": f"name=eth0,bridge=vmbr0,hwaddr={MAC},ip=dhcp,type=veth",
    "net1": "name=eth1,bridge=vmbr1,hwaddr=BC:24:11:00:00:01,ip=dhcp",
    "tags": "felhom;felhom-0123456789ab;web",
    "description": f"felhom-owner={OWNER}\nfelhom-archive=local:backup/old.tar.zst\n",
    "onboot": "1",
    "startup": "order=2,up=30",
    "cores": "2",
    "memory": "2048",
    "swap": "512",
    "nameserver": "10.0.0.53",
    "protection": "1",
    "features": "keyctl=1,nesting=1",
    "arch": "amd64",
    "ostype": "debian",
    "unprivileged": "1",
    "digest": "abc",
    "rootfs": "local-lvm:vm-101-disk-0,size=12G,acl=1",
    "mp0": "local-lvm:vm-101-disk-1,mp=/mnt/data,size=4G,backup=1",
    "mp1": "local-lvm:vm-101-disk-2,mp=/srv/db,size=1G",
}


def test_plan_carries_identity_and_never_passes_data_volumes() -> None:
    plan = plan_roll(
        GUEST,
        vmid=101,
        owner=OWNER,
        new_archive="local:backup/new.tar.zst",
        running=True,
        rebuilt_at="2026-11-29T20:00:00Z",
        min_rootfs_gib=10,
    )
    o = plan.restore_overrides
    assert o["net0"] == GUEST["net0"] and o["net1"] == GUEST["net1"]  # MACs kept
    for key in ("hostname", "tags", "onboot", "startup", "cores", "memory", "swap", "nameserver"):
        assert o[key] == GUEST[key]
    assert o["protection"] == "1" and plan.protection
    assert o["rootfs"] == "local-lvm:12,acl=1"  # grown 12 GiB beats the spec's 10
    assert not any(k.startswith("mp") for k in o)
    assert not {"features", "arch", "ostype", "digest"} & set(o)  # from the new archive
    assert owner_of(o) == OWNER and rebuilt_at_of(o) == "2026-11-29T20:00:00Z"
    assert "felhom-archive=local:backup/new.tar.zst" in o["description"]
    assert [m.key for m in plan.mounts] == ["mp0", "mp1"]
    assert plan.mac == MAC and plan.old_archive == "local:backup/old.tar.zst"


@pytest.mark.parametrize(
    ("rootfs", "min_gib", "want"),
    [
        ("local-lvm:vm-1-disk-0,size=8G", 0, ("local-lvm:8", "local-lvm", 8)),
        ("local-lvm:vm-1-disk-0,size=8G", 16, ("local-lvm:16", "local-lvm", 16)),
        ("local-lvm:vm-1-disk-0,size=8704M", 8, ("local-lvm:9", "local-lvm", 9)),  # rounds up
        ("zfs:subvol-1-disk-0,size=4G,quota=1", 2, ("zfs:4,quota=1", "zfs", 4)),
    ],
)
def test_rootfs_is_reallocated_at_least_as_large(
    rootfs: str, min_gib: int, want: tuple[str, str, int]
) -> None:
    assert rootfs_param({"rootfs": rootfs}, min_gib) == want


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ({}, None),
        ({"unused0": "local-lvm:vm-101-disk-9"}, "unused0: an unused volume"),
        ({"mp2": "/srv/host,mp=/srv"}, "mp2: a bind or device mount"),
        ({"dev0": "/dev/net/tun"}, "dev0: a device passthrough"),
        ({"hookscript": "local:snippets/x.pl"}, "hookscript"),
        ({"lxc.apparmor.profile": "unconfined"}, "raw lxc.* keys"),
        ({"parent": "before-upgrade"}, "snapshots"),
        ({"lock": "backup"}, "locked (backup)"),
        ({"template": "1"}, "template"),
    ],
)
def test_refusals(extra: dict[str, str], needle: str | None) -> None:
    found = refusals({**GUEST, **extra})
    if needle is None:
        assert found == []
    else:
        assert len(found) == 1 and needle in found[0]


def test_plan_refuses_with_every_problem_named() -> None:
    with pytest.raises(VerificationError, match=r"dev0.*unused0"):
        plan_roll(
            {**GUEST, "unused0": "local-lvm:x", "dev0": "/dev/x"},
            vmid=101,
            owner=OWNER,
            new_archive="local:backup/new.tar.zst",
            running=True,
            rebuilt_at="t",
        )


@pytest.mark.parametrize(
    ("old", "want"),
    [
        ("", "felhom-archive=new\nfelhom-rootfs-rebuilt=T\n"),
        (
            "felhom-owner=o\nfelhom-archive=old\nfelhom-rootfs-rebuilt=S\n",
            "felhom-owner=o\nfelhom-archive=new\nfelhom-rootfs-rebuilt=T\n",
        ),
        (
            "felhom-owner=o\ncustomer note\nfelhom-archive=old",
            "felhom-owner=o\ncustomer note\nfelhom-archive=new\nfelhom-rootfs-rebuilt=T\n",
        ),
    ],
)
def test_new_description_replaces_only_the_archive_and_rebuild_lines(old: str, want: str) -> None:
    assert new_description(old, "new", "T") == want


@pytest.mark.parametrize(
    "record",
    [
        HolderRecord(OWNER, 101, "old", "new", running=True),
        HolderRecord(OWNER, 101, "old", "new", running=False, protected=True, backup="local:b"),
        HolderRecord(OWNER, 7, "", "new", running=True, backup="local:b", verified=True),
    ],
)
def test_holder_record_round_trips_and_is_not_the_guests_marker(record: HolderRecord) -> None:
    text = record.description()
    assert HolderRecord.parse(OWNER, text) == record
    assert HolderRecord.parse("felhom/other/x", text) is None
    assert owner_of({"description": text}) == f"{OWNER}#roll-holder"  # adopt() ignores it


def test_holder_is_small_stopped_protected_and_link_down() -> None:
    record = HolderRecord(OWNER, 101, "old", "new", running=True)
    archive = parse_pct_conf("rootfs: local-lvm:vm-9100-disk-0,size=8G\nnet0: name=eth0\n")
    o = holder_overrides(record, storage="local-lvm", archive_config=archive, bridge="vmbr0")
    assert o["rootfs"] == "local-lvm:8" and o["protection"] == 1 and o["onboot"] == 0
    assert "link_down=1" in o["net0"] and "hwaddr" not in o["net0"]
    assert "felhom-roll" in o["tags"].split(";")
    assert HolderRecord.parse(OWNER, o["description"]) == record


def test_rollback_overrides_come_from_the_backups_config() -> None:
    backup = {k: v for k, v in GUEST.items() if not k.startswith("mp")}
    o = rollback_overrides(backup)
    assert o["net0"] == GUEST["net0"] and o["description"] == GUEST["description"]
    assert o["rootfs"] == "local-lvm:12,acl=1" and o["protection"] == "1"
    assert identity_options(backup).keys() <= o.keys()


@pytest.mark.parametrize(
    ("after", "problems"),
    [
        ([("mp0", "/mnt/data", 4)], []),
        ([], ["mp0: missing"]),
        ([("mp0", "/mnt/data", 4), ("mp1", "/x", 1)], ["mp1: unexpected"]),
        ([("mp0", "/mnt/other", 4)], ["mp0: ('/mnt/other', 4) instead of ('/mnt/data', 4)"]),
    ],
)
def test_mounts_match_by_key_path_and_size(
    after: list[tuple[str, str, int]], problems: list[str]
) -> None:
    before = [DataMount("mp0", "local-lvm:vm-101-disk-1", "/mnt/data", 4)]
    got = [DataMount(k, f"local-lvm:vm-200-disk-{i}", p, s) for i, (k, p, s) in enumerate(after)]
    assert mounts_match(before, got) == problems


@pytest.mark.parametrize(
    ("notes", "mine"),
    [
        (backup_notes(OWNER, "old"), True),
        (backup_notes(OWNER, "old") + "\nmore", True),  # PVE lists the first line
        (backup_notes("felhom/acme/db", "old"), False),
        (None, False),
    ],
)
def test_roll_backups_are_recognised_by_their_notes(notes: str | None, mine: bool) -> None:
    assert is_roll_backup(OWNER, notes) is mine


def test_outputs() -> None:
    conf: dict[str, Any] = {"description": new_description(GUEST["description"], "new", "T")}
    assert roll_outputs(conf) == {"archive": "new", "rootfsRebuiltAt": "T"}
    assert roll_outputs({}) == {"archive": "", "rootfsRebuiltAt": None}


@pytest.mark.parametrize(
    ("new", "shell", "needles"),
    [
        ("local:backup/new", True, ["rebuilt from local:backup/new", "carried over"]),
        (None, True, ["known after it is built in this run"]),
        ("local:backup/new", False, ["host keys will CHANGE"]),
    ],
)
def test_preview(new: str | None, shell: bool, needles: list[str]) -> None:
    text = preview_roll(
        "local:backup/old", new, [MountSpec("local-lvm", 4, "/mnt/data")], node_shell=shell
    )
    assert "update in place" in text and "/mnt/data (local-lvm, 4 GiB)" in text
    assert "was local:backup/old" in text and "moved not copied" in text
    for needle in needles:
        assert needle in text
