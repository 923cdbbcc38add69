"""The ``FelhomGuest`` field table: every guest input, declared once.

Each key is the stack-config key of a ``felhom:guests[]`` entry, the resource input and the
output of the same name. Change kinds follow pve-container's ``vmconfig_hotplug_pending``
(``src/PVE/LXC/Config.pm``): memory, swap, cpulimit, cpuunits, ``netN`` and new mount
points are hot-applied to a running CT; cores, onboot, startup, protection, tags and the
hostname are "fast-plug" writes (the hostname reaches the guest only at its next start);
other keys (nameserver, searchdomain) stay pending until the CT restarts. A new golden
``archive`` is *rolled* onto the guest (``reconcile.roll``): a fresh root filesystem, the
data mounts moved across and the identity kept; never a replacement.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any

from felhom_provider.spec import formats as fmt
from felhom_provider.spec.field import (
    Change,
    Field,
    FieldError,
    Table,
    boolean,
    integer,
    number,
    one_of,
    plain_text,
    str_list,
    sub_object,
)

#: Names a guest may not take: ``golden`` is the golden image's resource in every stack.
RESERVED_NAMES = frozenset({"golden"})
#: Per-stack settings that reach each guest as inputs (set by the program, not per guest).
HOST_KEY_CHECKS = ("handshake", "nodeShell", "both")
RESTART_MODES = ("immediate", "deferred")


def _name(value: Any) -> str:
    name = fmt.HOSTNAME(value)
    if name in RESERVED_NAMES:
        raise ValueError(f"{name!r} is reserved (the golden image's resource and marker)")
    return name


MOUNT_FIELDS = (
    Field("storage", "string", "PVE storage id", fmt.STORAGE, Change.REFUSED, required=True),
    Field("sizeGiB", "int", "volume size; grown in place", fmt.GIB, Change.LIVE, required=True),
    Field(
        "path",
        "string",
        "absolute path in the guest",
        fmt.mount_path,
        Change.REFUSED,
        required=True,
    ),
)
STARTUP_FIELDS = (
    Field("order", "int", "boot order (lower first)", integer(0, 100_000), Change.LIVE),
    Field("up", "int", "seconds to wait after starting it", integer(0, 86_400), Change.LIVE),
    Field("down", "int", "seconds to wait for its shutdown", integer(0, 86_400), Change.LIVE),
)
NETWORK_FIELDS = (
    Field(
        "ip",
        "string",
        "`dhcp` or IPv4 `<address>/<prefix>`",
        fmt.ipv4_cidr,
        Change.LIVE,
        default="dhcp",
    ),
    Field(
        "gw",
        "string",
        "IPv4 gateway (static `ip` only), inside its subnet",
        fmt.ip_address(4),
        Change.LIVE,
    ),
    Field(
        "ip6", "string", "`auto`, `dhcp` or IPv6 `<address>/<prefix>`", fmt.ipv6_cidr, Change.LIVE
    ),
    Field("gw6", "string", "IPv6 gateway (static `ip6` only)", fmt.ip_address(6), Change.LIVE),
    Field("vlan", "int", "VLAN tag on the bridge port", integer(1, 4094), Change.LIVE),
    Field("firewall", "bool", "PVE firewall on the port", boolean, Change.LIVE),
    Field(
        "mac",
        "string",
        "pinned MAC (e.g. for a DHCP reservation); else a fresh one",
        fmt.mac,
        Change.LIVE,
    ),
    Field("mtu", "int", "interface MTU", integer(576, 65_535), Change.RESTART),
)

_mount_list = sub_object(MOUNT_FIELDS)


def _mounts(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list | tuple):
        raise ValueError("must be a list of {storage, sizeGiB, path}")
    if len(value) > fmt.MAX_MOUNTS:
        raise ValueError(f"at most {fmt.MAX_MOUNTS} mounts (mp0..mp255), got {len(value)}")
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, item in enumerate(value):
        try:
            mount = _mount_list(item)
        except ValueError as exc:
            raise FieldError(
                f"[{index}]" + getattr(exc, "path", ""), getattr(exc, "reason", str(exc))
            ) from None
        if mount["path"] in seen:
            raise FieldError(f"[{index}].path", f"{mount['path']!r} is mounted twice")
        seen.add(mount["path"])
        out.append(mount)
    return sorted(out, key=lambda m: str(m["path"]))


def _network(value: Any) -> dict[str, Any]:
    net = sub_object(NETWORK_FIELDS)(value)
    if net.get("firewall") is False:
        del net["firewall"]  # PVE's default: absent and false are the same
    ip, gw = net.get("ip", "dhcp"), net.get("gw")
    if gw is not None:
        if ip == "dhcp":
            raise FieldError(".gw", "a gateway needs a static ip (DHCP brings its own)")
        if ipaddress.ip_address(gw) not in ipaddress.IPv4Interface(ip).network:
            raise FieldError(".gw", f"{gw} is outside {ipaddress.IPv4Interface(ip).network}")
    ip6, gw6 = net.get("ip6"), net.get("gw6")
    if gw6 is not None:
        if ip6 in (None, "auto", "dhcp"):
            raise FieldError(".gw6", "a gateway needs a static ip6")
        if ipaddress.ip_address(gw6) not in ipaddress.IPv6Interface(ip6).network:
            raise FieldError(".gw6", f"{gw6} is outside {ipaddress.IPv6Interface(ip6).network}")
    return net


#: ``[<stackId>:]<project>/<stack>/<name>`` (the stack id when ``felhom:stackId`` is set).
_OWNER = re.compile(r"(?:[a-z0-9][a-z0-9-]{7,63}:)?[^/\s:]+/[^/\s]+/[^/\s]+")


def _owner(value: Any) -> str:
    text = plain_text(value)
    if not _OWNER.fullmatch(text):
        raise ValueError(f"{text!r} must be [<stackId>:]<project>/<stack>/<name>")
    return text


_keys = str_list(fmt.authorized_key, max_items=256)

GUEST = Table(
    (
        Field(
            "name",
            "string",
            "resource name, unique in the stack; not `golden`",
            _name,
            Change.LIVE,
            required=True,
        ),
        Field(
            "owner",
            "string",
            "ownership marker `<project>/<stack>/<name>`",
            _owner,
            Change.FIXED,
            required=True,
            stack=False,
        ),
        Field(
            "node",
            "string",
            "PVE node",
            fmt.NODE,
            Change.REPLACE,
            required=True,
            default_doc="`felhom:pve.node`",
        ),
        Field(
            "archive",
            "string",
            "golden archive volid (from `felhom:golden`); a new one is rolled onto the guest",
            fmt.VOLID,
            Change.ROLL,
            required=True,
            stack=False,
        ),
        Field(
            "hostname",
            "string",
            "one DNS label; reaches the guest at its next start",
            fmt.HOSTNAME,
            Change.RESTART,
            default_doc="`name`",
        ),
        Field("cores", "int", "CPU cores (fast-plug)", integer(1, 8192), Change.LIVE, default=1),
        Field(
            "memory", "int", "MiB (hot-applied)", integer(16, 4_194_304), Change.LIVE, default=1024
        ),
        Field("swap", "int", "MiB (hot-applied)", integer(0, 4_194_304), Change.LIVE, default=512),
        Field(
            "cpulimit",
            "number",
            "CPU time limit in cores, 0 = none (hot-applied)",
            number(0, 8192),
            Change.LIVE,
            default=0,
        ),
        Field(
            "cpuunits",
            "int",
            "CPU weight (hot-applied)",
            integer(1, 10_000),
            Change.LIVE,
            default=100,
        ),
        Field(
            "rootfsStorage",
            "string",
            "storage of the root disk",
            fmt.STORAGE,
            Change.REPLACE,
            default="local-lvm",
        ),
        Field(
            "rootfsGiB",
            "int",
            "root disk GiB; grown in place, shrinking refused",
            fmt.GIB,
            Change.LIVE,
            default=8,
        ),
        Field(
            "mounts",
            "list",
            "`[{storage, sizeGiB, path}]`; added or grown in place, never shrunk or removed",
            _mounts,
            Change.LIVE,
            default=[],
        ),
        Field("bridge", "string", "bridge of net0", fmt.BRIDGE, Change.REPLACE, default="vmbr0"),
        Field(
            "network",
            "object",
            "`{ip, gw, ip6, gw6, vlan, firewall, mac, mtu}` of net0 (hot-plugged)",
            _network,
            Change.LIVE,
            default={"ip": "dhcp"},
        ),
        Field(
            "nameserver",
            "list",
            "DNS server addresses (at the next start)",
            str_list(fmt.ip_address(0), max_items=3, unique_sorted=False),
            Change.RESTART,
        ),
        Field(
            "searchdomain",
            "string",
            "DNS search domain (at the next start)",
            fmt.DOMAIN,
            Change.RESTART,
        ),
        Field(
            "vmid",
            "int",
            "pins the VMID; else PVE's next free id",
            fmt.VMID,
            Change.REPLACE,
            observed=True,
        ),
        Field("tags", "list", "PVE tags", str_list(fmt.TAG, max_items=64), Change.LIVE, default=[]),
        Field("onboot", "bool", "start when the node boots", boolean, Change.LIVE, default=True),
        Field(
            "startup",
            "object",
            "`{order, up, down}` for node boot/shutdown",
            sub_object(STARTUP_FIELDS),
            Change.LIVE,
        ),
        Field("pool", "string", "PVE resource pool", fmt.POOL, Change.LIVE),
        Field(
            "protection",
            "bool",
            "PVE `protection` flag (from `felhom:protect`)",
            boolean,
            Change.LIVE,
            default=True,
            stack=False,
        ),
        Field(
            "sshAuthorizedKeys",
            "list",
            "customer keys in /root/.ssh/authorized_keys",
            _keys,
            Change.LIVE,
            default=[],
        ),
        Field(
            "operatorSshAuthorizedKeys",
            "list",
            "operator keys (from `felhom:sshAuthorizedKeys`)",
            _keys,
            Change.LIVE,
            default=[],
            stack=False,
        ),
        Field(
            "hostKeyCheck",
            "string",
            "how host keys are verified (from `felhom:hostKeyCheck`)",
            one_of(*HOST_KEY_CHECKS),
            Change.LIVE,
            default="handshake",
            stack=False,
        ),
        Field(
            "restarts",
            "string",
            "restart policy (from `felhom:restarts`)",
            one_of(*RESTART_MODES),
            Change.LIVE,
            default="immediate",
            stack=False,
        ),
        Field(
            "import", "int", "adopt this existing CT instead of restoring", fmt.VMID, Change.FIXED
        ),
    )
)

#: Outputs the engine computes, in addition to every input (camelCase like the inputs).
COMPUTED = (
    "vmid",
    "mac",
    "ipv4",
    "hostKeys",
    "hostPublicKeys",
    "knownHosts",
    "hostKeysVerified",
    "sshPort",
    "sshUser",
    "pendingRestart",
    "rootfsRebuiltAt",
    "state",
)


def default_hostname(values: Mapping[str, Any]) -> str | None:
    """The hostname a guest gets when none is set: its name (already a DNS label)."""
    name = values.get("name")
    return name if isinstance(name, str) else None
