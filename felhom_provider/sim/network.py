"""Bridge ``vmbr0``: MAC generation, a DHCP server leasing loopback addresses, L2 collisions.

MACs follow pve-common ``Tools.pm`` ``random_ether_addr``: random bytes with the multicast
bit cleared and the locally-administered bit set, upper-case, then the datacenter prefix
(``BC:24:11``, pve-cluster ``DataCenterConfig.pm``) written over the start.

DHCP leases addresses from 127.77.0.0/16 so that everything a guest "serves" stays on
loopback. A MAC keeps its lease across restarts (like a real DHCP server's lease file).
Two running CTs with one MAC on the bridge are recorded as an L2 collision: on a real LAN
that is the seed's F1 failure (both guests answer for one address).

Static addresses (``ip=<CIDR>``) take no lease; two running CTs with one static address are
recorded as an IP collision.

Not imitated: VLAN separation (tags are stored only), firewall, SDN zones other than
``localnetwork``, IPv6 leases, lease expiry.
"""

from __future__ import annotations

import ipaddress
import secrets
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from felhom_provider.sim import propstr
from felhom_provider.sim.params import NET_FORMAT
from felhom_provider.sim.persist import atomic_write_json, read_json

if TYPE_CHECKING:
    from felhom_provider.sim.models import Container

MAC_PREFIX = "BC:24:11"
BRIDGES = ("vmbr0",)
LEASE_NET = ipaddress.IPv4Network("127.77.0.0/16")


def random_mac(prefix: str = MAC_PREFIX) -> str:
    """A fresh unicast, locally-administered MAC starting with ``prefix``."""
    raw = bytearray(secrets.token_bytes(6))
    raw[0] = (raw[0] & 0xFE) | 0x02
    text = ":".join(f"{b:02X}" for b in raw)
    return prefix.upper() + text[len(prefix) :]


class Dhcp:
    """Leases per MAC and the record of L2 collisions; persisted to ``network.json``."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self.leases: dict[str, str] = {}
        self.collisions: list[dict[str, Any]] = []
        self.ip_collisions: list[dict[str, Any]] = []

    def load(self) -> None:
        """Read leases and collisions from disk (if any)."""
        data = read_json(self._path, {})
        self.leases = dict(data.get("leases", {}))
        self.collisions = list(data.get("collisions", []))
        self.ip_collisions = list(data.get("ip_collisions", []))

    def _save(self) -> None:
        atomic_write_json(
            self._path,
            {
                "leases": self.leases,
                "collisions": self.collisions,
                "ip_collisions": self.ip_collisions,
            },
        )

    def lease(self, mac: str) -> str:
        """The address for ``mac``: its old lease, or the next free one."""
        mac = mac.upper()
        with self._lock:
            if mac in self.leases:
                return self.leases[mac]
            used = set(self.leases.values())
            for offset in range(2, LEASE_NET.num_addresses - 1):
                addr = str(LEASE_NET.network_address + offset)
                if addr not in used:
                    self.leases[mac] = addr
                    self._save()
                    return addr
        raise RuntimeError("DHCP pool 127.77.0.0/16 exhausted")

    def lease_of(self, ct: Container, key: str) -> str | None:
        """The DHCP address of ``ct``'s interface ``key`` while it runs with ``ip=dhcp``."""
        if ct.status != "running" or key not in ct.conf:
            return None
        net = propstr.parse(ct.conf[key], NET_FORMAT)
        if net.get("ip") != "dhcp" or "hwaddr" not in net:
            return None
        return self.leases.get(net["hwaddr"].upper())

    def record_ip_collision(self, ip: str, vmids: list[int], now: float) -> None:
        """Remember that ``vmids`` ran at once with the same static address (an IP conflict:
        on a LAN both would answer ARP for it; here the first guest's sshd keeps it)."""
        with self._lock:
            self.ip_collisions.append({"ip": ip, "vmids": sorted(vmids), "time": int(now)})
            self._save()

    def record_collision(self, mac: str, vmids: list[int], now: float) -> None:
        """Remember that ``vmids`` ran at once with the same ``mac``."""
        with self._lock:
            self.collisions.append({"mac": mac.upper(), "vmids": sorted(vmids), "time": int(now)})
            self._save()
