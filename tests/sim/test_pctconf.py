"""pct.conf rendering/parsing and property-string ordering."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from felhom_provider.sim import pctconf, propstr
from felhom_provider.sim.params import MP_FORMAT, NET_FORMAT

GOLDEN = """arch: amd64
cores: 2
features: keyctl=1,nesting=1
hostname: golden-debian13
memory: 2048
net0: name=eth0,bridge=vmbr0,hwaddr=BC:24:11:5E:7A:01,ip=dhcp,type=veth
ostype: debian
rootfs: local-lvm:vm-9000-disk-0,size=8G
swap: 512
unprivileged: 1
"""


def test_golden_round_trip() -> None:
    conf, raw = pctconf.parse(GOLDEN)
    assert raw == []
    assert pctconf.render(conf) == GOLDEN
    assert pctconf.typed(conf)["cores"] == 2


def test_description_and_raw_lines() -> None:
    conf = {"hostname": "a", "description": "owner=x\nline 2 %", "memory": "512"}
    text = pctconf.render(conf, [("lxc.apparmor.profile", "unconfined")])
    assert (
        text
        == "#owner=x\n#line 2 %25\nhostname: a\nmemory: 512\nlxc.apparmor.profile: unconfined\n"
    )
    back, raw = pctconf.parse(text)
    assert back == conf and raw == [("lxc.apparmor.profile", "unconfined")]


def test_property_string_order() -> None:
    net = {
        "type": "veth",
        "ip": "dhcp",
        "hwaddr": "BC:24:11:00:00:01",
        "bridge": "vmbr0",
        "name": "eth0",
    }
    assert propstr.render(net, NET_FORMAT) == (
        "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01,ip=dhcp,type=veth"
    )
    mp = {"size": "10G", "backup": True, "mp": "/data", "volume": "local-lvm:vm-123-disk-1"}
    assert propstr.render(mp, MP_FORMAT) == "local-lvm:vm-123-disk-1,mp=/data,backup=1,size=10G"
    assert pctconf.normalise("net0", "bridge=vmbr0,name=eth0") == "name=eth0,bridge=vmbr0"


def test_sizes() -> None:
    assert propstr.parse_size("8G") == 8 << 30
    assert propstr.parse_size("1.5T") == 3 << 39
    assert propstr.format_size(8 << 30) == "8G"
    assert propstr.format_size(1536 << 20) == "1536M"


KEYS = st.sampled_from(["cores", "hostname", "memory", "swap", "tags", "onboot", "mp3", "net1"])
VALUES = st.text(alphabet="abcdefghij0123456789=,.-:/", min_size=1, max_size=20)


@given(st.dictionaries(KEYS, VALUES, max_size=8))
def test_render_parse_round_trip(conf: dict[str, str]) -> None:
    text = pctconf.render(conf)
    assert pctconf.parse(text)[0] == conf
    assert pctconf.digest(text) == pctconf.digest(pctconf.render(pctconf.parse(text)[0]))
