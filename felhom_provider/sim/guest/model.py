"""The guest model: filesystem, installed packages, Docker images and the running state.

A :class:`GuestModel` round-trips through a JSON-able dict (``to_payload`` /
``from_payload``). That dict is the CT's opaque ``guest`` payload in the simulator's state: it
rides in vzdump archives and is copied back on restore, so everything a guest "is" survives
backup and restore the way a rootfs does. The filesystem is stored as a difference to the
template image (``template.base_image``).

Runtime facts (unit states, kernel hostname, DHCP lease, the CT facts seen at boot) exist only
while the CT runs; ``boot.stop`` clears them, so archives made in stop mode carry none.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from felhom_provider.sim.guest import template
from felhom_provider.sim.guest.fs import VirtualFS, node_in, node_out

PAYLOAD_FORMAT = 1


@dataclass
class CtFacts:
    """What the guest can observe of its CT config (PVE's Setup code passes these in)."""

    vmid: int
    hostname: str
    unprivileged: bool = True
    nesting: bool = False
    keyctl: bool = False
    nets: dict[str, str] = field(default_factory=dict)  # iface name → MAC
    # iface name → the netN keys PVE's Setup writes (ip, gw, ip6, gw6, mtu), as configured.
    netconf: dict[str, dict[str, str]] = field(default_factory=dict)
    nameserver: str = ""
    searchdomain: str = ""

    def static_address(self) -> str | None:
        """The first interface's static IPv4 address (no prefix), if it has one."""
        for conf in self.netconf.values():
            ip = conf.get("ip", "")
            if "/" in ip:
                return ip.split("/", 1)[0]
            return None
        return None

    memory: int = 512  # MiB, the config's ``memory`` (PVE's default is 512)
    disks: dict[str, int] = field(default_factory=dict)  # mount point → bytes (rootfs is "/")
    volumes: dict[str, str] = field(default_factory=dict)  # mount point → volume ID


@dataclass
class UnitState:
    """``ActiveState``/``SubState`` of a unit plus the reason of the last failure."""

    active: str = "inactive"
    sub: str = "dead"
    result: str = ""


@dataclass
class Runtime:
    """State that exists only while the CT runs."""

    facts: CtFacts
    hostname: str
    first_boot: bool
    machine_id: str = ""
    boot_id: str = field(default_factory=lambda: secrets.token_hex(16))
    units: dict[str, UnitState] = field(default_factory=dict)
    lease: dict[str, str] | None = None
    address: str | None = None  # where the guest answers: its DHCP lease or static address
    volatile_journal: list[str] = field(default_factory=list)

    def state(self, unit: str) -> UnitState:
        """The unit's state; units never started are ``inactive (dead)``."""
        return self.units.setdefault(unit, UnitState())


class GuestModel:
    """One simulated Debian 13 guest."""

    def __init__(
        self,
        fs: VirtualFS,
        packages: dict[str, str],
        *,
        docker_images: list[str] | None = None,
        runtime: Runtime | None = None,
    ) -> None:
        self.fs = fs
        self.packages = packages
        self.docker_images = docker_images or []
        self.runtime = runtime

    @property
    def running(self) -> bool:
        """True between ``boot.start`` and ``boot.stop``."""
        return self.runtime is not None

    @classmethod
    def from_template(cls) -> GuestModel:
        """A pristine template rootfs, before PVE's create hook."""
        return cls(VirtualFS(template.base_image()), template.template_packages())

    # -- serialisation ---------------------------------------------------------------------
    def to_payload(self) -> dict[str, Any]:
        """JSON-able form: filesystem as changes to the template, plus packages and runtime."""
        base = template.base_image()
        changed = {p: node_out(n) for p, n in self.fs.nodes.items() if base.get(p) != n}
        removed = sorted(p for p in base if p not in self.fs.nodes)
        payload: dict[str, Any] = {
            "format": PAYLOAD_FORMAT,
            "image": template.IMAGE,
            "fs": changed,
            "fs_removed": removed,
            "packages": dict(sorted(self.packages.items())),
            "docker_images": list(self.docker_images),
        }
        if self.runtime is not None:
            rt = self.runtime
            payload["runtime"] = {
                "facts": vars(rt.facts),
                "hostname": rt.hostname,
                "first_boot": rt.first_boot,
                "machine_id": rt.machine_id,
                "boot_id": rt.boot_id,
                "units": {k: [v.active, v.sub, v.result] for k, v in rt.units.items()},
                "lease": rt.lease,
                "address": rt.address,
                "volatile_journal": rt.volatile_journal[-200:],
            }
        return payload

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> GuestModel:
        """Rebuild a model from :meth:`to_payload` output; an empty dict means "no guest"."""
        if not payload:
            raise ValueError("empty guest payload")
        if payload.get("format") != PAYLOAD_FORMAT:
            raise ValueError(f"unsupported guest payload format {payload.get('format')!r}")
        nodes = dict(template.base_image())
        for path in payload.get("fs_removed", []):
            nodes.pop(path, None)
        for path, raw in payload.get("fs", {}).items():
            nodes[path] = node_in(raw)
        runtime = None
        raw_rt = payload.get("runtime")
        if raw_rt:
            runtime = Runtime(
                facts=CtFacts(**raw_rt["facts"]),
                hostname=raw_rt["hostname"],
                first_boot=raw_rt["first_boot"],
                machine_id=raw_rt.get("machine_id", ""),
                boot_id=raw_rt["boot_id"],
                units={k: UnitState(*v) for k, v in raw_rt["units"].items()},
                lease=raw_rt.get("lease"),
                address=raw_rt.get("address") or (raw_rt.get("lease") or {}).get("ip"),
                volatile_journal=list(raw_rt.get("volatile_journal", [])),
            )
        return cls(
            VirtualFS(nodes),
            dict(payload.get("packages", {})),
            docker_images=list(payload.get("docker_images", [])),
            runtime=runtime,
        )
