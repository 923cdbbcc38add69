"""``ip`` (iproute2 6.15) over the guest's links, addresses and routes (``netinfo.py``).

Imitated: ``ip [-4|-6] [-br] addr|address|a [show|list|s|l] [[dev] IFACE]``,
``ip [-br] link|l [show [[dev] IFACE]]`` and ``ip [-4] route|r|ro [show|list]``. The layout is
``ipaddress.c`` ``print_linkinfo``/``print_addrinfo``: ``N: name: <FLAGS> mtu … state …
group default qlen 1000``, the ``link/…`` line (left out under ``-4``/``-6``, which moves
``link-netnsid 0`` onto the first line), ``inet ADDR/LEN [brd B] scope S [LABEL]`` and the
``valid_lft``/``preferred_lft`` line; IPv6 lines end in a space after their flags, as
iproute2 prints them. ``-br`` is ``%-16s %-14s`` name and state, then each address
``ADDR/LEN `` (or the MAC and flags for links). Routes are ``iproute.c`` ``print_route`` text
with its trailing space. ``ip`` on an unknown device prints ``Device "X" does not exist.`` and
exits 1. Changing anything (``add``, ``del``, ``set``), ``neigh``, ``-j``, ``-s`` and ``-d``
are not imitated.
"""

from __future__ import annotations

from felhom_provider.sim.guest import netinfo
from felhom_provider.sim.guest.model import GuestModel
from felhom_provider.sim.guest.registry import Result, Runner, not_imitated
from felhom_provider.sim.network import LEASE_NET

_OBJECTS = {
    "a": "addr", "ad": "addr", "addr": "addr", "address": "addr",
    "l": "link", "li": "link", "link": "link",
    "r": "route", "ro": "route", "route": "route",
}  # fmt: skip
_SHOW = {"show", "list", "s", "l", "lst", "sh"}


def ip(model: GuestModel, argv: list[str], stdin: str, run: Runner) -> Result:
    """``ip`` with the objects and options of the module docstring."""
    args = argv[1:]
    family, brief = 0, False
    while args and args[0].startswith("-"):
        opt = args.pop(0)
        if opt in ("-4", "-6"):
            family = int(opt[1])
        elif opt in ("-br", "-brief", "--brief"):
            brief = True
        else:
            return not_imitated(" ".join(argv))
    if not args or args[0] not in _OBJECTS:
        return not_imitated(" ".join(argv))
    obj, rest = _OBJECTS[args[0]], args[1:]
    if rest and rest[0] in _SHOW:
        rest = rest[1:]
    if rest and rest[0] == "dev":
        rest = rest[1:]
    if len(rest) > 1 or (obj == "route" and rest):
        return not_imitated(" ".join(argv))
    selected = netinfo.links(model)
    if rest:
        selected = [link for link in selected if link.name == rest[0]]
        if not selected:
            return Result(1, "", f'Device "{rest[0]}" does not exist.\n')
    if obj == "route":
        return Result(0, "" if family == 6 else _routes(model))
    if obj == "addr" and family == 4:
        # With a family filter, ipaddress.c leaves out links without such an address.
        selected = [link for link in selected if link.ipv4 is not None]
    if brief:
        return Result(0, "".join(_brief(link, obj, family) for link in selected))
    return Result(0, "".join(_long(link, obj, family) for link in selected))


def _flags(link: netinfo.Link) -> str:
    return "<LOOPBACK,UP,LOWER_UP>" if not link.peer else "<BROADCAST,MULTICAST,UP,LOWER_UP>"


def _head(link: netinfo.Link, obj: str, family: int) -> str:
    mtu, state = (65536, "UNKNOWN") if not link.peer else (1500, "UP")
    mode = " mode DEFAULT" if obj == "link" else ""
    netns = " link-netnsid 0" if link.peer and family else ""
    return (
        f"{link.index}: {link.label}: {_flags(link)} mtu {mtu} qdisc noqueue state {state}"
        f"{mode} group default qlen 1000{netns}\n"
    )


def _long(link: netinfo.Link, obj: str, family: int) -> str:
    text = _head(link, obj, family)
    if not family:
        if link.peer:
            text += f"    link/ether {link.mac} brd ff:ff:ff:ff:ff:ff link-netnsid 0\n"
        else:
            text += f"    link/loopback {link.mac} brd 00:00:00:00:00:00\n"
    if obj == "link":
        return text
    forever = "       valid_lft forever preferred_lft forever\n"
    if link.ipv4 is not None and family in (0, 4):
        address, plen, brd = link.ipv4
        scope = "host" if not link.peer else "global"
        text += f"    inet {address}/{plen} " + (f"brd {brd} " if brd else "")
        text += f"scope {scope} {link.name}\n{forever}"
    if family in (0, 6):
        address, plen = link.ipv6
        # ::1 carries noprefixroute; a link-local address was added by the kernel (kernel_ll).
        tail = "scope host noprefixroute " if not link.peer else "scope link proto kernel_ll "
        text += f"    inet6 {address}/{plen} {tail}\n{forever}"
    return text


def _brief(link: netinfo.Link, obj: str, family: int) -> str:
    state = "UNKNOWN" if not link.peer else "UP"
    text = f"{link.label:<16} {state:<14} "
    if obj == "link":
        return text + f"{link.mac} {_flags(link)} \n"
    if link.ipv4 is not None and family in (0, 4):
        text += f"{link.ipv4[0]}/{link.ipv4[1]} "
    if family in (0, 6):
        text += f"{link.ipv6[0]}/{link.ipv6[1]} "
    return text + "\n"


def _routes(model: GuestModel) -> str:
    text = ""
    for link in netinfo.links(model):
        if link.peer and link.ipv4 is not None:
            address, plen, _brd = link.ipv4
            network = f"{LEASE_NET.network_address}/{plen}"
            text = f"default via {netinfo.gateway()} dev {link.name} \n" + text
            text += f"{network} dev {link.name} proto kernel scope link src {address} \n"
    return text
