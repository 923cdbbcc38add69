"""``net0``, boot and DNS keys in both directions as exact values: what a new ``net0`` keeps
of its base, what a config reads back as, and the types the settings carry into the state
(mutation-testing gaps)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from felhom_provider.reconcile.model import GuestSpec
from felhom_provider.reconcile.netconf import (
    boot_and_dns,
    net0_for,
    network_of,
    settings_from_config,
)

MAC = "BC:24:11:A6:C0:DE"
#: A base with every option set to something the spec does not ask for.
BUSY_BASE = (
    "name=eth1,bridge=vmbr9,hwaddr=AA:BB:CC:DD:EE:FF,ip=10.0.0.9/24,gw=10.0.0.1,ip6=auto,"
    "gw6=fd00::1,firewall=1,tag=5,mtu=1400,type=veth,rate=10"
)


def _spec(**changes: Any) -> GuestSpec:
    base: dict[str, Any] = {
        "name": "acme-web",
        "owner": "felhom/dev/acme-web",
        "node": "pve",
        "archive": "local:backup/a.tar.zst",
        "hostname": "acme-web",
    }
    base.update(changes)
    return GuestSpec(**base)


# --- net0_for ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "base", "hwaddr", "net0"),
    [
        # every network option of the base is replaced, the other options (type, rate) kept
        (_spec(), BUSY_BASE, None, "name=eth0,bridge=vmbr0,ip=dhcp,rate=10,type=veth"),
        (_spec(), BUSY_BASE, MAC, f"name=eth0,bridge=vmbr0,hwaddr={MAC},ip=dhcp,rate=10,type=veth"),
        (_spec(), None, None, "name=eth0,bridge=vmbr0,ip=dhcp"),
        # a network without ip is DHCP
        (_spec(network={"mtu": 9000}), None, None, "name=eth0,bridge=vmbr0,ip=dhcp,mtu=9000"),
        (
            _spec(
                bridge="vmbr1",
                network={
                    "ip": "10.0.0.5/24",
                    "gw": "10.0.0.1",
                    "vlan": 7,
                    "firewall": True,
                    "mac": "02:00:00:00:00:01",
                },
            ),
            BUSY_BASE,
            MAC,
            "name=eth0,bridge=vmbr1,firewall=1,gw=10.0.0.1,hwaddr=02:00:00:00:00:01,"
            "ip=10.0.0.5/24,rate=10,tag=7,type=veth",
        ),
    ],
)
def test_net0_for(spec: GuestSpec, base: str | None, hwaddr: str | None, net0: str) -> None:
    assert net0_for(spec, base, hwaddr=hwaddr) == net0


# --- network_of and settings_from_config ------------------------------------------------


@pytest.mark.parametrize(
    ("net0", "network"),
    [
        (
            f"name=eth0,bridge=vmbr0,hwaddr={MAC.lower()},ip=dhcp,type=veth",
            {"ip": "dhcp", "mac": MAC},
        ),
        (
            "name=eth0,bridge=vmbr0,ip=10.0.0.5/24,gw=10.0.0.1,ip6=auto,tag=7,mtu=1400,firewall=1",
            {
                "ip": "10.0.0.5/24",
                "gw": "10.0.0.1",
                "ip6": "auto",
                "vlan": 7,
                "mtu": 1400,
                "firewall": True,
            },
        ),
        ("name=eth0,bridge=vmbr0,firewall=0", {}),
    ],
)
def test_network_of(net0: str, network: dict[str, Any]) -> None:
    got = network_of({"net0": net0})
    assert got == network
    # vlan and mtu are numbers in the state, as the inputs have them
    assert json.dumps(got, sort_keys=True) == json.dumps(network, sort_keys=True)


def test_settings_of_a_config_without_the_keys_are_pves_defaults() -> None:
    assert settings_from_config({}) == {
        "onboot": False,
        "protection": False,
        "network": {},
        "startup": None,
        "nameserver": None,
        "searchdomain": None,
        "cpulimit": 0,
        "cpuunits": 100,
    }


@pytest.mark.parametrize(
    ("config", "key", "value"),
    [
        ({"onboot": 1}, "onboot", True),
        ({"onboot": "0"}, "onboot", False),
        ({"protection": "1"}, "protection", True),
        # the order may be written without its key ("[order=]N")
        ({"startup": "2,up=30"}, "startup", {"order": 2, "up": 30}),
        ({"startup": "order=3,down=5"}, "startup", {"order": 3, "down": 5}),
        ({"nameserver": "10.0.0.1 10.0.0.2"}, "nameserver", ["10.0.0.1", "10.0.0.2"]),
        ({"searchdomain": ""}, "searchdomain", None),
        ({"cpulimit": ""}, "cpulimit", 0),
        ({"cpulimit": "1.5"}, "cpulimit", 1.5),
        ({"cpulimit": "2"}, "cpulimit", 2),
        ({"cpuunits": 1024.0}, "cpuunits", 1024),
    ],
)
def test_settings_from_config(config: dict[str, Any], key: str, value: Any) -> None:
    got = settings_from_config(config)[key]
    # the JSON form too: a whole number is an int in the state, not 2.0
    assert json.dumps(got) == json.dumps(value)


def test_boot_and_dns_leaves_unset_keys_out() -> None:
    assert boot_and_dns(_spec()) == {"onboot": 1, "cpulimit": 0, "cpuunits": 100}
    spec = _spec(
        onboot=False,
        startup={"order": 2, "up": 30},
        nameserver=("10.0.0.1", "10.0.0.2"),
        searchdomain="example.org",
    )
    assert boot_and_dns(spec) == {
        "onboot": 0,
        "cpulimit": 0,
        "cpuunits": 100,
        "startup": "order=2,up=30",
        "nameserver": "10.0.0.1 10.0.0.2",
        "searchdomain": "example.org",
    }
