"""Boot and shutdown of a simulated Debian 13 guest, the subset of PVE + systemd modelled.

On start, in this order:

1. PVE's pre-start setup (pve-container ``Setup``/``Base.pm``, reference §11): writes
   ``/etc/hostname`` and the ``127.0.1.1`` line of ``/etc/hosts`` from the config's ``hostname``
   (``CT<vmid>`` when unset), ``/etc/network/interfaces`` for the ``netN`` entries, and
   ``/etc/systemd/system-preset/00-pve.preset`` (its rules are not imitated).
2. systemd's machine-id setup (``machine-id(5)``, "First Boot Semantics"): missing or
   ``uninitialized`` → first boot; empty → not first boot, a fresh ID is committed at once;
   valid → kept. Empty or missing takes the ID from ``/var/lib/dbus/machine-id`` when that is a
   real file with a valid ID (a symlink does not count). A first-boot ID is committed after
   the boot transaction (``first-boot-complete.target``).
3. The kernel hostname comes from ``/etc/hostname``.
4. First boot only: presets are applied in enable-only mode (every unit with ``[Install]`` not
   matched by a ``disable`` rule is enabled; Debian's default is ``enable *``).
5. The boot transaction for ``sockets.target`` and ``multi-user.target`` (see ``systemd.py``);
   ``networking.service`` writes the DHCP lease for the address the bridge handed out.
6. ``systemd-random-seed`` refreshes ``/var/lib/systemd/random-seed``.

Not imitated: ``/etc/hosts`` beyond the 127.0.1.1 line, static IPs, IPv6, getty/console,
timers, journal binary format, cgroups and resource limits.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
import secrets
from collections.abc import Mapping
from typing import Any

from felhom_provider.sim.guest import systemd, units
from felhom_provider.sim.guest.fs import FsError
from felhom_provider.sim.guest.model import CtFacts, GuestModel, Runtime

_MACHINE_ID = re.compile(r"^[0-9a-f]{32}$")
PRESET_DIRS = ("/etc/systemd/system-preset", "/usr/lib/systemd/system-preset")


def _props(value: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in str(value or "").split(","):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k.strip()] = v.strip()
    return out


def facts_from_config(vmid: int, conf: Mapping[str, Any]) -> CtFacts:
    """Read hostname, unprivileged, features and netN MACs from a CT config mapping."""
    features = _props(conf.get("features"))
    nets: dict[str, str] = {}
    netconf: dict[str, dict[str, str]] = {}
    for key in sorted((k for k in conf if re.fullmatch(r"net\d+", k)), key=lambda k: int(k[3:])):
        p = _props(conf[key])
        name = p.get("name", "eth" + key[3:])
        nets[name] = p.get("hwaddr", "").upper()
        netconf[name] = {k: p[k] for k in ("ip", "gw", "ip6", "gw6", "mtu") if k in p}
    return CtFacts(
        vmid=int(vmid),
        hostname=str(conf.get("hostname") or f"CT{vmid}"),
        unprivileged=str(conf.get("unprivileged", "0")) == "1",
        nesting=features.get("nesting") == "1",
        keyctl=features.get("keyctl") == "1",
        nets=nets,
        netconf=netconf,
        nameserver=str(conf.get("nameserver") or ""),
        searchdomain=str(conf.get("searchdomain") or ""),
    )


def interfaces_text(facts: CtFacts) -> str:
    """``/etc/network/interfaces`` as PVE's Debian setup writes it (``Setup/Debian.pm``
    ``setup_network``): one stanza per family, static addresses with their gateways."""
    text = "auto lo\niface lo inet loopback\n"
    for iface in facts.nets:
        conf = facts.netconf.get(iface, {"ip": "dhcp"})
        text += f"\nauto {iface}\n"
        ip = conf.get("ip")
        if ip in ("dhcp", "manual"):
            text += f"iface {iface} inet {ip}\n"
        elif ip:
            text += f"iface {iface} inet static\n\taddress {ip}\n"
            if conf.get("gw"):
                text += f"\tgateway {conf['gw']}\n"
        if conf.get("mtu") and ip:
            text += f"\tmtu {conf['mtu']}\n"
        ip6 = conf.get("ip6")
        if ip6 in ("auto", "dhcp", "manual"):
            text += f"iface {iface} inet6 {ip6}\n"
        elif ip6:
            text += f"iface {iface} inet6 static\n\taddress {ip6}\n"
            if conf.get("gw6"):
                text += f"\tgateway {conf['gw6']}\n"
    return text


def resolv_conf(facts: CtFacts) -> str | None:
    """``/etc/resolv.conf`` from ``nameserver``/``searchdomain`` (``Setup/Base.pm``
    ``set_dns``); None when neither is set (PVE then copies the host's, not imitated)."""
    if not (facts.nameserver or facts.searchdomain):
        return None
    lines = [f"search {' '.join(facts.searchdomain.split())}"] if facts.searchdomain else []
    lines += [f"nameserver {ns}" for ns in facts.nameserver.split()]
    return "# --- BEGIN PVE ---\n" + "\n".join(lines) + "\n# --- END PVE ---\n"


def _pve_setup(model: GuestModel, facts: CtFacts) -> None:
    fs = model.fs
    fs.write("/etc/hostname", facts.hostname + "\n")
    hosts = fs.read("/etc/hosts") if fs.is_file("/etc/hosts") else ""
    kept = [line for line in hosts.splitlines() if not line.startswith("127.0.1.1")]
    fs.write("/etc/hosts", "\n".join([*kept, f"127.0.1.1\t{facts.hostname}"]) + "\n")
    fs.mkdir("/etc/network", parents=True)
    fs.write("/etc/network/interfaces", interfaces_text(facts))
    resolv = resolv_conf(facts)
    if resolv is not None:
        fs.write("/etc/resolv.conf", resolv)
    fs.mkdir("/etc/systemd/system-preset", parents=True)
    fs.write(
        "/etc/systemd/system-preset/00-pve.preset",
        "# written by PVE at start; rules not imitated\n",
    )


def _read_id(model: GuestModel, path: str) -> str | None:
    try:
        return model.fs.read(path).strip()
    except FsError:
        return None


def _machine_id(model: GuestModel) -> tuple[bool, str, bool]:
    """(first_boot, id, commit_now) per machine-id(5)."""
    current = _read_id(model, "/etc/machine-id")
    if current is not None and _MACHINE_ID.match(current):
        return False, current, False
    first_boot = current is None or current == "uninitialized"
    dbus = "/var/lib/dbus/machine-id"
    from_dbus = None
    if model.fs.is_file(dbus) and not model.fs.is_link(dbus):
        from_dbus = _read_id(model, dbus)
    new_id = from_dbus if from_dbus and _MACHINE_ID.match(from_dbus) else secrets.token_hex(16)
    return first_boot, new_id, not first_boot


def apply_presets(model: GuestModel) -> None:
    """``systemctl preset-all --preset-mode=enable-only`` as done on first boot."""
    files: dict[str, str] = {}
    for directory in reversed(PRESET_DIRS):  # /etc wins over /usr/lib for the same file name
        if model.fs.is_dir(directory):
            for name in model.fs.listdir(directory):
                if name.endswith(".preset"):
                    files[name] = posixpath.join(directory, name)
    rules: list[tuple[str, str]] = []
    for name in sorted(files):
        for line in model.fs.read(files[name]).splitlines():
            fields = line.split()
            if len(fields) >= 2 and fields[0] in ("enable", "disable"):
                rules.append((fields[0], fields[1]))
    for name in units.all_unit_names(model.fs):
        unit = units.find_unit(model.fs, name)
        if unit is None or not unit.has_install or units.is_enabled(model.fs, unit):
            continue
        action = next(
            (a for a, pat in rules if posixpath.basename(pat) == name or _match(pat, name)),
            "enable",
        )
        if action == "enable":
            units.enable(model.fs, unit)


def _match(pattern: str, name: str) -> bool:
    return fnmatch.fnmatchcase(name, pattern)


def start(model: GuestModel, facts: CtFacts, lease_ip: str | None) -> None:
    """Boot the guest: PVE setup, machine-id, presets, the boot transaction."""
    _pve_setup(model, facts)
    first_boot, machine_id, commit_now = _machine_id(model)
    if commit_now:
        model.fs.write("/etc/machine-id", machine_id + "\n", mode=0o444)
    hostname = (_read_id(model, "/etc/hostname") or "localhost").splitlines()[0]
    model.runtime = Runtime(
        facts=facts, hostname=hostname, first_boot=first_boot, machine_id=machine_id
    )
    if lease_ip and facts.nets:
        iface, mac = next(iter(facts.nets.items()))
        model.runtime.lease = {"iface": iface, "mac": mac, "ip": lease_ip}
    model.runtime.address = lease_ip or facts.static_address()
    systemd.journal(
        model, "kernel", f"Booting CT {facts.vmid} (first boot: {'yes' if first_boot else 'no'})"
    )
    if first_boot:
        apply_presets(model)
    systemd.start(model, list(systemd.DEFAULT_TARGETS))
    if first_boot:
        model.fs.write("/etc/machine-id", machine_id + "\n", mode=0o444)
    model.fs.write("/var/lib/systemd/random-seed", secrets.token_hex(256) + "\n", mode=0o600)
    systemd.journal(model, "systemd[1]", "Reached target multi-user.target - Multi-User System.")


def stop(model: GuestModel) -> None:
    """Shut down: every unit stops, the random seed is saved, runtime facts vanish."""
    if model.runtime is None:
        return
    systemd.journal(model, "systemd[1]", "Reached target poweroff.target - System Power Off.")
    if model.fs.is_dir("/var/lib/systemd"):
        model.fs.write("/var/lib/systemd/random-seed", secrets.token_hex(256) + "\n", mode=0o600)
    model.runtime = None
