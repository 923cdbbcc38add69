"""Property strings, sizes and pct.conf text: PVE's examples and round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from felhom_provider.pve.props import (
    GIB,
    Mount,
    Net,
    SizeSpec,
    as_bool,
    as_int,
    config_mount,
    config_property,
    format_features,
    format_property_string,
    format_size,
    gib,
    is_new_volume,
    mount_keys,
    parse_features,
    parse_pct_conf,
    parse_property_string,
    parse_size,
    split_tags,
)

# Values exactly as PVE prints them (design §4.13).
NET0 = "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:5E:7A:01,ip=dhcp,type=veth"
ROOTFS = "local-lvm:vm-9000-disk-0,size=8G"
MP0 = "local-lvm:vm-123-disk-1,mp=/data,size=10G"
MP0_BACKUP = "local-lvm:vm-123-disk-1,mp=/data,backup=1,size=10G"


@pytest.mark.parametrize("text", [NET0, "name=eth0,bridge=vmbr0,ip=dhcp", "name=eth1"])
def test_net_round_trip(text):
    assert Net.parse(text).format() == text


def test_net_fields():
    net = Net.parse(NET0)
    assert (net.name, net.bridge, net.hwaddr, net.ip) == (
        "eth0",
        "vmbr0",
        "BC:24:11:5E:7A:01",
        "dhcp",
    )
    assert net.options == {"type": "veth"}
    # Formatting orders like PVE whatever order we build in.
    built = Net(name="eth0", ip="dhcp", bridge="vmbr0", options={"type": "veth"})
    assert built.format() == "name=eth0,bridge=vmbr0,ip=dhcp,type=veth"


@pytest.mark.parametrize(
    "text", [ROOTFS, MP0, MP0_BACKUP, "local-lvm:10", "local-lvm:1,mp=/mnt/data"]
)
def test_mount_round_trip(text):
    assert Mount.parse(text).format() == text


def test_mount_fields_and_allocation():
    mp = Mount.parse(MP0_BACKUP)
    assert (mp.volume, mp.mp, mp.size, mp.storage) == (
        "local-lvm:vm-123-disk-1",
        "/data",
        10 * GIB,
        "local-lvm",
    )
    assert mp.options == {"backup": "1"}
    assert not mp.allocates
    new = Mount.new("local-lvm", 10, mp="/data")
    assert new.format() == "local-lvm:10,mp=/data"
    assert new.allocates
    assert is_new_volume("local-lvm:16")
    assert not is_new_volume(ROOTFS)
    assert Mount.parse("volume=local-lvm:vm-1-disk-0,size=4G").volume == "local-lvm:vm-1-disk-0"


def test_features():
    assert parse_features("keyctl=1,nesting=1") == {"keyctl": "1", "nesting": "1"}
    assert format_features({"nesting": True, "keyctl": True}) == "keyctl=1,nesting=1"
    assert parse_features("") == {}


@pytest.mark.parametrize(
    "text",
    ["", "a=1,,b=2", "novalue", "a=1,a=2", "name=eth0,bare"],
)
def test_property_string_rejects(text):
    with pytest.raises(ValueError):
        parse_property_string(text)


def test_format_rejects_commas_and_bad_keys():
    with pytest.raises(ValueError):
        format_property_string({"a": "x,y"})
    with pytest.raises(ValueError):
        format_property_string({"A b": "x"})


def test_default_value_that_looks_keyed_is_printed_keyed():
    text = format_property_string({"volume": "a=b"}, default_key="volume")
    assert text == "volume=a=b"
    assert parse_property_string(text, default_key="volume") == {"volume": "a=b"}


KEYS = st.from_regex(r"[a-z][a-z0-9_-]{0,8}", fullmatch=True)
VALUES = st.text(
    st.characters(exclude_characters=",\n\x00", exclude_categories=["Cs"]), min_size=1, max_size=12
)


@given(st.dictionaries(KEYS, VALUES, max_size=6), st.sampled_from([None, "volume"]))
def test_property_string_round_trip(values, default_key):
    if not values:
        return  # an empty property string is not a value PVE prints
    text = format_property_string(values, default_key=default_key)
    assert parse_property_string(text, default_key=default_key) == values
    # Printing is canonical: parse → print gives the same text again.
    again = format_property_string(
        parse_property_string(text, default_key=default_key), default_key=default_key
    )
    assert again == text


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("8G", SizeSpec(8 * GIB)),
        ("512M", SizeSpec(512 << 20)),
        ("+2G", SizeSpec(2 * GIB, relative=True)),
        ("1.5G", SizeSpec(3 * GIB // 2)),
        ("1024", SizeSpec(1024)),
        ("4T", SizeSpec(4 << 40)),
        ("64K", SizeSpec(64 << 10)),
        (10, SizeSpec(10)),
    ],
)
def test_parse_size(text, spec):
    assert parse_size(text) == spec


@pytest.mark.parametrize("text", ["", "8GB", "-1G", "G", "1,5G", "8g"])
def test_parse_size_rejects(text):
    with pytest.raises(ValueError):
        parse_size(text)


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (8 * GIB, "8G"),
        (512 << 20, "512M"),
        (3 * GIB // 2, "1536M"),
        (1000, "1000"),
        (0, "0"),
        (2 << 40, "2T"),
    ],
)
def test_format_size(n, text):
    assert format_size(n) == text


@given(st.integers(min_value=0, max_value=1 << 50))
def test_size_round_trip(n):
    assert parse_size(format_size(n)).bytes == n


def test_size_spec_str_and_gib():
    assert str(SizeSpec(2 * GIB, relative=True)) == "+2G"
    assert gib(10) == 10 * GIB
    assert gib(0.5) == GIB // 2


PCT_CONF = """#golden%20image
#built by felhom
arch: amd64
cores: 2
features: keyctl=1,nesting=1
hostname: felhom-golden
memory: 2048
net0: name=eth0,bridge=vmbr0,hwaddr=BC:24:11:5E:7A:01,ip=dhcp,type=veth
ostype: debian
rootfs: local-lvm:vm-9000-disk-0,size=8G
swap: 512
unprivileged: 1
lxc.cgroup2.devices.allow: c 10:200 rwm

[pve:pending]
memory: 4096
"""


def test_parse_pct_conf():
    conf = parse_pct_conf(PCT_CONF)
    assert conf["description"] == "golden image\nbuilt by felhom"
    assert conf["features"] == "keyctl=1,nesting=1"
    assert conf["memory"] == "2048"  # the pending section is not the config
    assert conf["lxc.cgroup2.devices.allow"] == "c 10:200 rwm"
    assert Net.parse(conf["net0"]).hwaddr == "BC:24:11:5E:7A:01"
    assert Mount.parse(conf["rootfs"]).size == 8 * GIB
    assert "template" not in conf


# --- values of a CT config ------------------------------------------------------------------


def test_config_property_absent_key_is_empty() -> None:
    assert config_property({}, "net0", default_key="name") == {}
    assert config_property({"net0": ""}, "net0") == {}
    cfg = {"net0": "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01"}
    assert config_property(cfg, "net0")["hwaddr"] == "BC:24:11:00:00:01"


def test_config_mount_reads_rootfs_and_mp() -> None:
    cfg = {"rootfs": "local-lvm:vm-1-disk-0,size=10G", "mp3": "tank:vm-1-disk-1,mp=/d,size=1G"}
    rootfs = config_mount(cfg, "rootfs")
    assert rootfs is not None and (rootfs.storage, rootfs.size) == ("local-lvm", 10 * GIB)
    assert config_mount(cfg, "mp0") is None
    assert mount_keys({**cfg, "mp10": "x:1,mp=/e", "mpx": "y"}) == [
        (3, "tank:vm-1-disk-1,mp=/d,size=1G"),
        (10, "x:1,mp=/e"),
    ]


@pytest.mark.parametrize(("value", "want"), [(None, 7), ("", 7), ("2", 2), (" 3 ", 3), (4, 4)])
def test_as_int(value: object, want: int) -> None:
    assert as_int(value, 7) == want


@pytest.mark.parametrize(
    ("value", "want"), [(1, True), ("1", True), ("0", False), (0, False), (None, False)]
)
def test_as_bool(value: object, want: bool) -> None:
    assert as_bool(value) is want


def test_split_tags_accepts_pve_separators() -> None:
    assert split_tags("felhom;web, db  x") == ("felhom", "web", "db", "x")
    assert split_tags(None) == ()


def test_parse_features_none_is_empty() -> None:
    assert parse_features(None) == {}
