"""Read-back, archive check and observe as exact tables: every problem line a spec/config pair
yields, every default a missing key falls back to (mutation-testing gaps)."""

from __future__ import annotations

import pytest

from felhom_provider.errors import VerificationError
from felhom_provider.reconcile.model import GuestState, MountSpec, owner_tag
from felhom_provider.reconcile.observe import (
    Observed,
    mac_of,
    mounts_from_config,
    state_from,
    volume_gib,
    volume_storage,
)
from felhom_provider.reconcile.plan import (
    archive_of,
    check_archive_config,
    describe,
    desired_tags,
    missing_features,
    mount_prop,
    plan_restore,
)
from felhom_provider.reconcile.readback import verify_readback

from .fakes import GOLDEN_MAC
from .test_plan import ARCHIVE, GOLDEN, OWNER, _restored, spec

# --- verify_readback: the exact problem lines -----------------------------------------

MP0 = "local-lvm:vm-123-disk-1,mp=/mnt/data,size=1G"


@pytest.mark.parametrize(
    ("edit", "problems"),
    [
        ({"net0": "name=eth0,bridge=vmbr9,hwaddr=BC:24:11:A6:C0:DE,ip=dhcp"},
         ["net0 bridge 'vmbr9' != 'vmbr0'"]),
        ({"hostname": "x"}, ["hostname 'x' != 'acme-web' (F2)"]),
        ({"rootfs": "local-lvm:vm-123-disk-0,size=9G"}, ["rootfs size 9.0 GiB != 10"]),
        ({"rootfs": "tank:vm-123-disk-0,size=10G"}, ["rootfs storage 'tank' != 'local-lvm'"]),
        ({"mp0": "local-lvm:vm-123-disk-1,mp=/x,size=1G"}, ["mp0 path '/x' != '/mnt/data'"]),
        ({"mp0": "local-lvm:vm-123-disk-1,mp=/mnt/data,size=2G"}, ["mp0 size 2.0 != 1"]),
        ({"mp0": "tank:vm-123-disk-1,mp=/mnt/data,size=1G"}, ["mp0 storage 'tank' != 'local-lvm'"]),
        ({"mp2": MP0}, ["unexpected mount points ['mp2']"]),
        ({"cores": "3"}, ["cores 3 != 2"]),
        ({"memory": "4096"}, ["memory 4096 != 2048"]),
        ({"swap": "0"}, ["swap 0 != 512"]),
        ({"features": "nesting=1,keyctl=0"}, ["features lost keyctl=1 (has 'nesting=1,keyctl=0')"]),
        ({"unprivileged": "0"}, ["not unprivileged"]),
        ({"template": "1"}, ["restored as a template"]),
        ({"template": "0"}, []),
        ({"description": "x\n"}, ["ownership marker None != 'felhom/dev/acme-web'"]),
        ({"lock": "create"}, ["config still locked (create)"]),
        ({"lock": ""}, []),
        ({"onboot": "0"}, ["onboot '0' != 1"]),
        ({"cpulimit": "0"}, []),  # PVE's default written out equals the absent key
        ({"cpuunits": "100"}, []),
        ({"cpuunits": "200"}, ["cpuunits '200' != 100"]),
        ({"nameserver": "1.1.1.1"}, []),  # not declared: not compared
    ],
)  # fmt: skip
def test_readback_problem_lines(edit: dict[str, str], problems: list[str]) -> None:
    assert verify_readback(spec(), _restored(**edit), GOLDEN_MAC) == problems


def test_readback_of_an_unset_key_the_spec_sets() -> None:
    cfg = _restored()
    del cfg["onboot"]
    assert verify_readback(spec(), cfg, GOLDEN_MAC) == ["onboot None != 1"]
    cfg = _restored(searchdomain="example.org")
    assert verify_readback(spec(searchdomain="lan"), cfg, GOLDEN_MAC) == [
        "searchdomain 'example.org' != 'lan'"
    ]


def test_readback_network_and_mac_rules() -> None:
    pinned = spec(network={"ip": "dhcp", "mac": "BC:24:11:A6:C0:DE"})
    assert verify_readback(pinned, _restored(), GOLDEN_MAC) == []
    other = spec(network={"ip": "dhcp", "vlan": 5})
    assert verify_readback(other, _restored(), GOLDEN_MAC) == [
        "network {'ip': 'dhcp'} != {'ip': 'dhcp', 'vlan': 5}"
    ]
    # Without an archive MAC to compare with, any MAC passes.
    golden = _restored(net0=f"name=eth0,bridge=vmbr0,hwaddr={GOLDEN_MAC},ip=dhcp")
    assert verify_readback(spec(), golden, None) == []
    assert verify_readback(spec(), golden, GOLDEN_MAC.lower()) == [
        f"net0 kept the golden MAC {GOLDEN_MAC} (F1)"
    ]


def test_readback_missing_rootfs_size_and_mounts() -> None:
    cfg = _restored(rootfs="local-lvm:vm-123-disk-0")
    del cfg["mp0"]
    assert verify_readback(spec(), cfg, GOLDEN_MAC) == [
        "rootfs size None GiB != 10",
        "mp0 (/mnt/data) missing",
    ]


def test_readback_reports_every_problem_in_order() -> None:
    cfg = _restored(hostname="x", cores="1", lock="backup", unprivileged="0")
    assert verify_readback(spec(), cfg, GOLDEN_MAC) == [
        "hostname 'x' != 'acme-web' (F2)",
        "cores 1 != 2",
        "not unprivileged",
        "config still locked (backup)",
    ]


# --- plan: archive check and restore parameters ---------------------------------------


def test_archive_problem_lines() -> None:
    cfg = {**GOLDEN, "features": "", "unprivileged": "0", "template": "1", "net2": "x", "net1": "y",
           "lxc.cgroup2.devices.allow": "a"}  # fmt: skip
    assert check_archive_config(cfg).problems == (
        "features lacks nesting=1 (has '')",
        "features lacks keyctl=1 (has '')",
        "archive is not unprivileged: 1",
        "archive carries template: 1 (every restore would become a template)",
        "archive has extra NICs ['net1', 'net2'] that would keep the golden MAC",
        "archive has raw lxc.* keys; a token restore drops them",
    )


def test_archive_facts_of_a_bare_config() -> None:
    facts = check_archive_config({"unprivileged": "1", "features": "nesting=1,keyctl=1"})
    assert (facts.mac, facts.hostname, facts.features, facts.unprivileged) == (
        None,
        None,
        "nesting=1,keyctl=1",
        True,
    )
    assert facts.problems == ()
    assert check_archive_config({"features": "nesting=1,keyctl=1"}).unprivileged is False


@pytest.mark.parametrize(
    ("features", "missing"),
    [("nesting=1,keyctl=1", []), ("keyctl=1", ["nesting=1"]), (None, ["nesting=1", "keyctl=1"]),
     ("nesting=0,keyctl=1", ["nesting=1"])],
)  # fmt: skip
def test_missing_features(features: str | None, missing: list[str]) -> None:
    assert missing_features({"features": features}) == missing


def test_restore_parameters_exactly() -> None:
    s = spec(pool="customers", tags=["web", "felhom"], nameserver=("1.1.1.1", "9.9.9.9"),
             searchdomain="lan", startup={"order": 2, "up": 30})  # fmt: skip
    params = plan_restore(s, 321, GOLDEN)
    assert params == {
        "vmid": 321,
        "ostemplate": ARCHIVE,
        "restore": 1,
        "hostname": "acme-web",
        "net0": "name=eth0,bridge=vmbr0,ip=dhcp,type=veth",
        "rootfs": "local-lvm:10",
        "cores": 2,
        "memory": 2048,
        "swap": 512,
        "unprivileged": 1,
        "onboot": 1,
        "cpulimit": 0,
        "cpuunits": 100,
        "startup": "order=2,up=30",
        "nameserver": "1.1.1.1 9.9.9.9",
        "searchdomain": "lan",
        "tags": ";".join(sorted({"felhom", owner_tag(OWNER), "web"})),
        "description": f"felhom-owner={OWNER}\nfelhom-archive={ARCHIVE}\n",
        "pool": "customers",
        "mp0": "local-lvm:1,mp=/mnt/data",
    }
    assert "pool" not in plan_restore(spec(), 321, GOLDEN)


def test_unfit_archive_error_names_the_guest_and_step() -> None:
    with pytest.raises(VerificationError) as info:
        plan_restore(spec(), 1, {**GOLDEN, "unprivileged": "0", "template": "1"})
    assert info.value.message == (
        f"archive {ARCHIVE} is unfit: archive is not unprivileged: 1; "
        "archive carries template: 1 (every restore would become a template)"
    )
    assert info.value.context == {"guest": "acme-web", "step": "verify-archive"}


def test_tags_description_and_archive_round_trip() -> None:
    assert desired_tags(spec(tags=["b", "a", "b"])) == tuple(
        sorted({"felhom", owner_tag(OWNER), "a", "b"})
    )
    assert mount_prop(MountSpec("tank", 20, "/srv")) == "tank:20,mp=/srv"
    text = describe(OWNER, "local:backup/x.tar.zst")
    assert text == f"felhom-owner={OWNER}\nfelhom-archive=local:backup/x.tar.zst\n"
    assert archive_of({"description": text}) == "local:backup/x.tar.zst"
    assert archive_of({"description": "  felhom-archive=a:b  \nfelhom-archive=c\n"}) == "a:b"
    assert archive_of({"description": "nothing\n"}) is None
    assert archive_of({}) is None


# --- observe --------------------------------------------------------------------------


def test_observed_from_a_bare_config_uses_pves_defaults() -> None:
    obs = Observed.from_config({}, running=True)
    assert (obs.hostname, obs.cores, obs.memory, obs.swap, obs.rootfs_gib) == ("", 1, 512, 512, 0)
    assert (obs.mounts, obs.tags, obs.running, obs.owner, obs.net0) == ({}, (), True, None, "")
    assert obs.bridge is None


def test_observed_from_a_config() -> None:
    cfg = _restored(tags=f"felhom;{owner_tag(OWNER)};web", cores="4", memory="1024", swap="0",
                    rootfs="local-lvm:vm-1-disk-0,size=10752M")  # fmt: skip
    obs = Observed.from_config(cfg, running=False)
    assert (obs.cores, obs.memory, obs.swap, obs.rootfs_gib) == (4, 1024, 0, 10)
    assert obs.mounts == {0: MountSpec("local-lvm", 1, "/mnt/data")}
    assert obs.tags == ("felhom", owner_tag(OWNER), "web") and obs.owner == OWNER
    assert obs.bridge == "vmbr0" and obs.running is False


def test_mounts_from_config_defaults_and_rounding() -> None:
    cfg = {"mp0": "tank:vm-1-disk-1,mp=/a,size=512M", "mp3": "tank:vm-1-disk-2", "rootfs": "x:y"}
    assert mounts_from_config(cfg) == {
        0: MountSpec("tank", 1, "/a"),
        3: MountSpec("tank", 1, "/unknown"),
    }
    assert mounts_from_config({"mp1": "tank:vm-1-disk-1,mp=/b,size=2560M"}) == {
        1: MountSpec("tank", 2, "/b")
    }


def test_volume_helpers() -> None:
    cfg = {"rootfs": "local-lvm:vm-1-disk-0,size=1536M", "mp0": "tank:vm-1-disk-1,mp=/a"}
    assert volume_gib(cfg, "rootfs") == 1.5
    assert volume_gib(cfg, "mp0") is None and volume_gib(cfg, "mp1") is None
    assert volume_storage(cfg, "mp0") == "tank" and volume_storage(cfg, "mp1") == ""
    assert mac_of({"net0": "name=eth0,hwaddr=bc:24:11:00:00:01"}) == "BC:24:11:00:00:01"
    assert mac_of({}) == ""


def test_state_from_drops_our_own_tags_and_sorts_the_rest() -> None:
    cfg = _restored(tags=f"web;felhom;{owner_tag(OWNER)};db")
    state = state_from(
        123, "pve", cfg, status="running", ipv4="10.0.0.2",
        host_keys={"b": "2", "a": "1"}, owner=OWNER,
        public_keys={"z": "9", "y": "8"}, ssh_port=2222, pending=("hostname",),
    )  # fmt: skip
    assert state.tags == ("db", "web")
    assert state.owner == OWNER and state.vmid == 123 and state.node == "pve"
    assert list(state.host_keys) == ["a", "b"] and list(state.host_public_keys) == ["y", "z"]
    assert (state.ssh_port, state.pending_restart, state.ipv4) == (2222, ("hostname",), "10.0.0.2")
    assert state.archive == ARCHIVE and state.mac == "BC:24:11:A6:C0:DE"
    assert state.mounts == (MountSpec("local-lvm", 1, "/mnt/data"),)
    assert (state.cores, state.memory, state.swap, state.rootfs_gib) == (2, 2048, 512, 10)
    unmarked = state_from(5, "pve", {"hostname": "h"}, status="stopped", ipv4=None,
                          host_keys={}, owner="x/y/z")  # fmt: skip
    assert unmarked.owner == "x/y/z" and unmarked.archive == "" and unmarked.ssh_port == 22
    assert unmarked.host_public_keys == {} and unmarked.pending_restart == ()


def test_observed_from_state_rebuilds_net0() -> None:
    cfg = _restored()
    state: GuestState = state_from(123, "pve", cfg, status="running", ipv4=None, host_keys={},
                                   owner=OWNER)  # fmt: skip
    obs = Observed.from_state(state, "vmbr7")
    assert obs.net0 == "name=eth0,bridge=vmbr7,hwaddr=BC:24:11:A6:C0:DE,ip=dhcp"
    assert obs.bridge == "vmbr7" and obs.running is True
    assert obs.mounts == {0: MountSpec("local-lvm", 1, "/mnt/data")}
    assert (obs.hostname, obs.cores, obs.owner) == ("acme-web", 2, OWNER)
    assert (obs.memory, obs.swap, obs.rootfs_gib) == (2048, 512, 10)
    assert obs.tags == state.tags
    assert obs.settings == state.settings and obs.settings is not state.settings
    stopped = Observed.from_state(
        state_from(1, "pve", cfg, status="stopped", ipv4=None, host_keys={}, owner=OWNER), "v"
    )
    assert stopped.running is False


# --- second pass: survivors of the first measurement ------------------------------------


def test_missing_flags_are_problems_in_archive_and_readback() -> None:
    archive = {k: v for k, v in GOLDEN.items() if k != "unprivileged"}
    assert check_archive_config(archive).problems == ("archive is not unprivileged: 1",)
    cfg = _restored()
    del cfg["unprivileged"]
    assert verify_readback(spec(), cfg, GOLDEN_MAC) == ["not unprivileged"]
    bare = check_archive_config({"unprivileged": "1", "features": "nesting=1,keyctl=1"})
    assert bare.features == "nesting=1,keyctl=1"
    assert check_archive_config({"unprivileged": "1"}).features == ""


def test_readback_without_hwaddr_is_named_exactly() -> None:
    cfg = _restored(net0="name=eth0,bridge=vmbr0,ip=dhcp,type=veth")
    assert verify_readback(spec(), cfg, GOLDEN_MAC) == ["net0 has no hwaddr"]


def test_readback_checks_every_mount_after_a_missing_one() -> None:
    mounts = (MountSpec("local-lvm", 1, "/mnt/data"), MountSpec("local-lvm", 2, "/b"))
    cfg = _restored(mp1="local-lvm:vm-123-disk-2,mp=/c,size=2G")
    del cfg["mp0"]
    assert verify_readback(spec(mounts=mounts), cfg, GOLDEN_MAC) == [
        "mp0 (/mnt/data) missing",
        "mp1 path '/c' != '/b'",
    ]
