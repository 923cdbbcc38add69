"""Pure mapping between the guest spec's boot/network/DNS fields and PVE's config keys.

PVE's keys (pve-container ``src/PVE/LXC/Config.pm``): ``net0`` is a property string
(``$netconf_desc``: ``name, bridge, hwaddr, ip, gw, ip6, gw6, tag, firewall, mtu, type``),
``startup`` is ``pve-startup-order`` (``[order=]N,up=N,down=N``), ``nameserver`` a
space-separated address list, booleans are ``0``/``1`` and absent means PVE's default.
``net0`` has no default key (its ``name`` is always written ``name=``), ``startup`` has
``order``. Both directions live here so that restore, update, read-back and observe agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from felhom_provider.pve.props import Net, as_bool, config_property, format_property_string
from felhom_provider.reconcile.model import GuestSpec

#: ``network`` sub-key -> ``net0`` option name (``vlan`` is PVE's ``tag``).
_NET_OPTIONS = {"gw": "gw", "ip6": "ip6", "gw6": "gw6", "vlan": "tag", "mtu": "mtu"}
#: PVE's defaults when a key is absent (``cpuunits``: cgroup v2's weight).
_ABSENT = {"cpulimit": 0, "cpuunits": 100}


def net0_for(spec: GuestSpec, base: str | None, *, hwaddr: str | None) -> str:
    """``net0`` for ``spec``: the bridge and the declared network on top of ``base`` (the
    golden's or the live value) with every network option replaced, never merged.

    ``hwaddr``: the MAC to keep (an update keeps the guest's own); None leaves it out so
    PVE generates a fresh one (a restore: F1). A pinned ``network.mac`` wins over both.
    """
    options = config_property({"net0": base}, "net0")
    # ``Net.format`` writes bridge and ip over any option of that name; ``name`` it does not.
    for key in ("name", "hwaddr", "firewall", *_NET_OPTIONS.values()):
        options.pop(key, None)
    net = dict(spec.network)
    for key, option in _NET_OPTIONS.items():
        if net.get(key) is not None:
            options[option] = str(net[key])
    if net.get("firewall"):
        options["firewall"] = "1"
    mac = net.get("mac") or hwaddr
    return Net(
        name="eth0", bridge=spec.bridge, hwaddr=mac, ip=str(net.get("ip", "dhcp")), options=options
    ).format()


def network_of(config: Mapping[str, Any]) -> dict[str, Any]:
    """The ``network`` object a CT's ``net0`` describes (firewall only when on)."""
    opts = config_property(config, "net0")
    out: dict[str, Any] = {}
    if opts.get("ip"):
        out["ip"] = opts["ip"]
    for key, option in _NET_OPTIONS.items():
        if opts.get(option):
            out[key] = int(opts[option]) if key in ("vlan", "mtu") else opts[option]
    if as_bool(opts.get("firewall")):
        out["firewall"] = True
    if opts.get("hwaddr"):
        out["mac"] = opts["hwaddr"].upper()
    return out


def startup_value(startup: Mapping[str, int] | None) -> str | None:
    """``order=1,up=30`` for PVE, or None when unset."""
    if not startup:
        return None
    return format_property_string({k: int(v) for k, v in startup.items()})


def boot_and_dns(spec: GuestSpec) -> dict[str, Any]:
    """The config keys for boot order, DNS and CPU weights (unset ones left out)."""
    params: dict[str, Any] = {
        "onboot": int(spec.onboot),
        "cpulimit": spec.cpulimit,
        "cpuunits": spec.cpuunits,
    }
    startup = startup_value(spec.startup)
    if startup:
        params["startup"] = startup
    if spec.nameserver:
        params["nameserver"] = " ".join(spec.nameserver)
    if spec.searchdomain:
        params["searchdomain"] = spec.searchdomain
    return params


def _number(value: Any, default: float) -> float | int:
    if value in (None, ""):
        return default
    number = float(str(value))
    return int(number) if number.is_integer() else number


def settings_from_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The field-table values PVE's config shows beyond the core sizes, keyed by field."""
    startup = config_property(config, "startup", default_key="order")
    settings: dict[str, Any] = {
        "onboot": as_bool(config.get("onboot")),
        "protection": as_bool(config.get("protection")),
        "network": network_of(config),
        "startup": {k: int(v) for k, v in startup.items()} or None,
        "nameserver": str(config["nameserver"]).split() if config.get("nameserver") else None,
        "searchdomain": config.get("searchdomain") or None,
    }
    for key, default in _ABSENT.items():
        settings[key] = _number(config.get(key), default)
    return settings
