"""df and hostname inside a guest whose CT has a 10 GiB rootfs and a 1 GiB mount point
(the seed's restored guest), compared with coreutils 9.7 df and hostname 3.25 output."""

from __future__ import annotations

import pytest

from felhom_provider.sim.guest import boot, cmd_df, fsinfo
from felhom_provider.sim.guest.model import GuestModel
from felhom_provider.sim.guest.registry import Result
from tests.sim_guest.helpers import created_guest, sh, start

CONF = {
    "hostname": "felhom-spike-9101",
    "memory": 2048,
    "rootfs": "local-lvm:vm-9101-disk-0,size=10G",
    "mp0": "local-lvm:vm-9101-disk-1,mp=/mnt/spike-test,size=1G",
    "net0": "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:A6:C0:DE,ip=dhcp",
    "unprivileged": 1,
    "features": "nesting=1,keyctl=1",
}


@pytest.fixture(scope="module")
def base() -> GuestModel:
    return start(created_guest(), boot.facts_from_config(9101, CONF), ip="127.77.0.109")


@pytest.fixture
def guest(base: GuestModel) -> GuestModel:
    return GuestModel.from_payload(base.to_payload())


def test_config_sizes_reach_the_guest(guest: GuestModel) -> None:
    assert guest.runtime is not None
    facts = guest.runtime.facts
    assert facts.memory == 2048
    assert facts.disks == {"/": 10 * 1024**3, "/mnt/spike-test": 1024**3}
    assert facts.volumes["/mnt/spike-test"] == "local-lvm:vm-9101-disk-1"


def test_df_rows_follow_the_volumes(guest: GuestModel) -> None:
    mounts = cmd_df.mounts(guest)
    assert [(m.source, m.fstype, m.target) for m in mounts] == [
        ("/dev/mapper/pve-vm--9101--disk--0", "ext4", "/"),
        ("none", "tmpfs", "/dev"),
        ("/dev/mapper/pve-vm--9101--disk--1", "ext4", "/mnt/spike-test"),
    ]
    root = mounts[0]
    assert root.size == 10 * 1024**3 * 975 // 1000 // 4096 * 4096
    assert root.avail == root.size - root.used - root.size // 20
    assert 0 < root.used < 1024**2


def _root_used(guest: GuestModel, human: bool) -> str:
    used = cmd_df.mounts(guest)[0].used
    return fsinfo.human_size(used) if human else str(used // 1024)


@pytest.mark.parametrize(
    ("script", "lines"),
    [
        # df.c: Filesystem at least 14 wide, numbers right-aligned, "Mounted on" unpadded.
        ("df -h", [
            "Filesystem                         Size  Used Avail Use% Mounted on",
            "/dev/mapper/pve-vm--9101--disk--0  9.8G  {u}  9.3G   1% /",
            "none                               492K  4.0K  488K   1% /dev",
            "/dev/mapper/pve-vm--9101--disk--1  999M  4.0K  949M   1% /mnt/spike-test",
        ]),
        ("df -hT /mnt/spike-test", [
            "Filesystem                        Type  Size  Used Avail Use% Mounted on",
            "/dev/mapper/pve-vm--9101--disk--1 ext4  999M  4.0K  949M   1% /mnt/spike-test",
        ]),
        ("df /dev", [
            "Filesystem     1K-blocks  Used Available Use% Mounted on",
            "none                 492     4       488   1% /dev",
        ]),
    ],
)  # fmt: skip
def test_df_prints_what_debian_prints(guest: GuestModel, script: str, lines: list[str]) -> None:
    used = _root_used(guest, human=True).rjust(4)
    expected = "".join(line.replace("{u}", used) + "\n" for line in lines)
    assert sh(guest, script) == Result(0, expected)


def test_df_of_a_missing_path(guest: GuestModel) -> None:
    res = sh(guest, "df -h /nope")
    assert res == Result(1, "", "df: /nope: No such file or directory\n")


def test_df_counts_files_written_on_the_mount(guest: GuestModel) -> None:
    assert sh(guest, "mkdir -p /mnt/spike-test && echo data > /mnt/spike-test/f").code == 0
    assert cmd_df.mounts(guest)[2].used == 2 * 4096  # the directory and one block of data


@pytest.mark.parametrize(
    ("script", "out"),
    [("hostname", "felhom-spike-9101\n"), ("hostname -s", "felhom-spike-9101\n"),
     ("hostname -I", "127.77.0.109 \n")],
)  # fmt: skip
def test_hostname(guest: GuestModel, script: str, out: str) -> None:
    assert sh(guest, script) == Result(0, out)
