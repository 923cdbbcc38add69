"""The guest's network as the kernel would report it: links, addresses, routes, sockets.

Derived from the CT's ``netN`` entries (``CtFacts.nets``: interface name → MAC), the DHCP
lease of the running guest and the running units:

* ``lo`` (index 1) with ``127.0.0.1/8`` and ``::1/128``;
* each ``netN`` interface is the CT side of a veth pair (index 2, 3, …, shown as
  ``eth0@ifN``: ``N`` is the host side's index, a stable stand-in derived from the VMID),
  up, with its IPv6 link-local address (EUI-64 of the MAC, as the kernel forms it);
* the leased IPv4 address with the simulator's DHCP network (``network.LEASE_NET``) as its
  prefix and broadcast, as ``dhclient-script`` adds it (no lifetime: ``forever``), and a
  default route via the network's first address (the bridge's router). The leases are
  loopback addresses so that tests stay on 127.0.0.0/8; they are shown with the scope a LAN
  address would have (``global``);
* listening sockets of the running daemons: ``sshd`` on ``0.0.0.0:22`` and ``[::]:22``
  (backlog 128, file descriptors 3 and 4), ``dhclient`` on UDP ``0.0.0.0%<iface>:68``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from felhom_provider.sim.guest import procs
from felhom_provider.sim.guest.model import GuestModel
from felhom_provider.sim.network import LEASE_NET


@dataclass(frozen=True)
class Link:
    """One network interface."""

    index: int
    name: str
    peer: int  # host-side ifindex of a veth, 0 for lo
    mac: str
    ipv4: tuple[str, int, str] | None  # address, prefix length, broadcast
    ipv6: tuple[str, int]

    @property
    def label(self) -> str:
        """``eth0@if23`` for a veth, ``lo`` for loopback."""
        return f"{self.name}@if{self.peer}" if self.peer else self.name


@dataclass(frozen=True)
class Socket:
    """One socket in the guest's network namespace."""

    proto: str  # tcp / udp
    state: str  # LISTEN / UNCONN
    local: str  # address as ss prints it (brackets for IPv6, %iface for a bound device)
    port: int
    peer: str
    recv_q: int
    send_q: int
    process: str
    pid: int
    fd: int
    family: int  # 4 or 6


def link_local(mac: str) -> str:
    """The kernel's EUI-64 link-local address for a MAC (``addrconf_ifid_eui48``)."""
    raw = bytearray(int(b, 16) for b in mac.split(":"))
    raw[0] ^= 0x02
    eui = bytes(raw[:3]) + b"\xff\xfe" + bytes(raw[3:])
    return str(ipaddress.IPv6Address(b"\xfe\x80" + b"\x00" * 6 + eui))


def links(model: GuestModel) -> list[Link]:
    """``lo`` and the CT's interfaces, in index order."""
    found = [Link(1, "lo", 0, "00:00:00:00:00:00", ("127.0.0.1", 8, ""), ("::1", 128))]
    rt = model.runtime
    if rt is None:
        return found
    for i, (name, mac) in enumerate(rt.facts.nets.items()):
        ipv4 = None
        if rt.lease is not None and rt.lease["iface"] == name:
            ipv4 = (rt.lease["ip"], LEASE_NET.prefixlen, str(LEASE_NET.broadcast_address))
        peer = 10 + rt.facts.vmid % 1000 + i
        found.append(Link(2 + i, name, peer, mac.lower(), ipv4, (link_local(mac), 64)))
    return found


def gateway() -> str:
    """The default router the DHCP lease names (the lease network's first address)."""
    return str(next(LEASE_NET.hosts()))


def sockets(model: GuestModel) -> list[Socket]:
    """Sockets of the running daemons in the order ``ss`` prints them."""
    found: list[Socket] = []
    rt = model.runtime
    for p in procs.processes(model, ["ss"]):
        if p.comm == "sshd":
            found.append(
                Socket("tcp", "LISTEN", "0.0.0.0", 22, "0.0.0.0", 0, 128, "sshd", p.pid, 3, 4)
            )
            found.append(Socket("tcp", "LISTEN", "[::]", 22, "[::]", 0, 128, "sshd", p.pid, 4, 6))
        elif p.comm == "dhclient" and rt is not None and rt.lease is not None:
            local = f"0.0.0.0%{rt.lease['iface']}"
            found.append(
                Socket("udp", "UNCONN", local, 68, "0.0.0.0", 0, 0, "dhclient", p.pid, 7, 4)
            )
    # ss.c main() dumps UDP before TCP; the kernel returns IPv4 sockets before IPv6 ones.
    return sorted(found, key=lambda s: (s.proto != "udp", s.family))  # fmt: skip
