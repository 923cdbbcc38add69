"""Power, status, destroy and template rules for CTs.

Sources: pve-container ``API2/LXC/Status.pm`` (start/stop/shutdown, ``vmstatus``),
``API2/LXC.pm`` (``destroy_vm``, ``template``, ``ip``), ``PVE/LXC.pm`` (``get_interfaces``).

Not imitated: HA (``hastart``/``hastop``), reboot, suspend/resume, a shutdown that times out
(``forceStop``/``timeout`` are accepted and the guest always stops), CPU and I/O counters
(reported as zero), quotas, ``debug`` starts.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from felhom_provider.sim import lxc_pending, propstr
from felhom_provider.sim.auth import ROOT
from felhom_provider.sim.errors import ParamError, SimApiError, TaskError
from felhom_provider.sim.lxc_config import apply_key, mount_parts, mount_render
from felhom_provider.sim.network import BRIDGES
from felhom_provider.sim.params import NET_FORMAT
from felhom_provider.sim.storage import GIB

if TYPE_CHECKING:
    from felhom_provider.sim.models import Container
    from felhom_provider.sim.state import SimState
    from felhom_provider.sim.tasks import Task


def _check_skiplock(actor: str, skiplock: bool) -> None:
    if skiplock and actor != ROOT:
        raise ParamError({"skiplock": "Only root may use this option."})


def start(state: SimState, actor: str, vmid: int, skiplock: bool = False) -> str:
    """``POST …/status/start``: ``vzstart`` worker; leases DHCP and calls ``on_start``."""
    state.auth.check(actor, f"/vms/{vmid}", ["VM.PowerMgmt"])
    _check_skiplock(actor, skiplock)
    ct = state.ct(vmid)
    if ct.status == "running":
        raise SimApiError(f"CT {vmid} already running")

    def body(task: Task) -> int:
        if ct.is_template:
            raise TaskError("you can't start a CT if it's a template")
        if ct.lock and not skiplock and ct.lock != "mounted":
            raise TaskError(f"CT is locked ({ct.lock})")
        with state.mutex:
            if ct.pending:  # vm_start: "apply pending changes while starting"
                lxc_pending.apply_all(ct, lambda c, k, v: apply_key(state, c, k, v))
                state.save_ct(ct)
        for value in ct.nets().values():
            bridge = propstr.parse(value, NET_FORMAT).get("bridge")
            if bridge is not None and bridge not in BRIDGES:
                raise TaskError(f"bridge '{bridge}' does not exist")
        with state.mutex:
            ct.status = "running"
            ct.pid = 100000 + vmid
            ct.started_at = state.clock.now()
            state.save_ct(ct)
        _lease_all(state, ct)
        state.hooks.on_start(ct, state.dhcp.lease_of(ct, "net0"))
        return 0

    return state.run_task(actor, "vzstart", vmid, body=body)


def _lease_all(state: SimState, ct: Container) -> None:
    for value in ct.nets().values():
        net = propstr.parse(value, NET_FORMAT)
        mac = net.get("hwaddr", "").upper()
        if not mac:
            continue
        if net.get("ip") == "dhcp":
            state.dhcp.lease(mac)
        clash = _running_others(state, ct, functools.partial(_has_mac, mac))
        if clash:
            state.dhcp.record_collision(mac, [ct.vmid, *clash], state.clock.now())
    address = static_address(ct)
    if address is not None:
        same = _running_others(state, ct, lambda other: static_address(other) == address)
        if same:
            state.dhcp.record_ip_collision(address, [ct.vmid, *same], state.clock.now())


def _has_mac(mac: str, other: Container) -> bool:
    return any(mac in v.upper() for v in other.nets().values())


def _running_others(
    state: SimState, ct: Container, match: Callable[[Container], bool]
) -> list[int]:
    """VMIDs of the other running CTs for which ``match`` holds."""
    with state.mutex:
        return [
            other.vmid
            for other in state.cts.values()
            if other.vmid != ct.vmid and other.status == "running" and match(other)
        ]


def static_address(ct: Container) -> str | None:
    """net0's static IPv4 address without the prefix (None for dhcp/manual/unset)."""
    if "net0" not in ct.conf:
        return None
    ip = str(propstr.parse(ct.conf["net0"], NET_FORMAT).get("ip", ""))
    return ip.split("/", 1)[0] if "/" in ip else None


def stop_now(state: SimState, ct: Container) -> None:
    """Mark the CT stopped now and tell the guest model."""
    with state.mutex:
        ct.status = "stopped"
        ct.pid = None
        ct.started_at = None
        state.save_ct(ct)
    state.hooks.on_stop(ct)


def stop(
    state: SimState, actor: str, vmid: int, *, skiplock: bool = False, shutdown: bool = False
) -> str:
    """``POST …/status/stop`` (``vzstop``) or ``…/shutdown`` (``vzshutdown``)."""
    state.auth.check(actor, f"/vms/{vmid}", ["VM.PowerMgmt"])
    _check_skiplock(actor, skiplock)
    ct = state.ct(vmid)
    if ct.status != "running":
        raise SimApiError(f"CT {vmid} not running")

    def body(task: Task) -> int:
        if ct.lock and not skiplock and ct.lock != "mounted":
            raise TaskError(f"CT is locked ({ct.lock})")
        stop_now(state, ct)
        return 0

    return state.run_task(actor, "vzshutdown" if shutdown else "vzstop", vmid, body=body)


def destroy(
    state: SimState, actor: str, vmid: int, *, force: bool = False, unreferenced: bool = False
) -> str:
    """``DELETE /nodes/{node}/lxc/{vmid}``: ``vzdestroy`` worker that frees every volume."""
    state.auth.check(actor, f"/vms/{vmid}", ["VM.Allocate"])
    ct = state.ct(vmid)
    if ct.conf.get("protection") == "1":
        raise SimApiError(f"can't remove CT {vmid} - protection mode enabled")
    if ct.lock:
        raise SimApiError(f"CT is locked ({ct.lock})")
    if ct.status == "running" and not force:
        raise SimApiError(f"unable to destroy CT {vmid} - container is running")
    old_conf: dict[str, str] = {}

    def begin(task: Task) -> None:
        # PVE replaces the config by {lock: destroyed} while it removes the volumes.
        with state.mutex:
            old_conf.update(ct.conf)
            ct.conf = {"lock": "destroyed"}
            state.save_ct(ct)

    def body(task: Task) -> int:
        if ct.status == "running":
            stop_now(state, ct)
        destroy_volumes(state, task, vmid, old_conf, unreferenced=unreferenced)
        state.pools.remove_vm(vmid)  # AccessControl::remove_vm_access
        state.drop_ct(vmid)
        state.hooks.on_destroy(ct)
        return 0

    return state.run_task(actor, "vzdestroy", vmid, begin=begin, body=body)


def config_volumes(conf: dict[str, str]) -> list[str]:
    """Volume ids a config references: rootfs, mpN and unusedN (``foreach_volume_full``)."""
    found: list[str] = []
    for key, value in conf.items():
        if key == "rootfs" or re.fullmatch(r"mp\d+", key):
            found.append(mount_parts(key, value)["volume"])
        elif re.fullmatch(r"unused\d+", key):
            found.append(value.split(",")[0])
    return list(dict.fromkeys(v for v in found if not v.startswith("/")))


def destroy_volumes(
    state: SimState, task: Task, vmid: int, conf: dict[str, str], *, unreferenced: bool = False
) -> None:
    """``destroy_lxc_container``'s volume part (pve-container ``PVE/LXC.pm``).

    Every volume the config references is freed if ``vmid`` owns it
    (``delete_mountpoint_volume`` warns and keeps one owned by another CT);
    ``destroy-unreferenced-disks`` also frees every other disk named for ``vmid``.
    """
    for volid in config_volumes(conf):
        vol = state.storage.get(volid)
        if vol is None:
            continue
        if vol.vmid != vmid:
            state.tasks.log(task, f"ignore deletion of '{volid}', CT {vmid} isn't the owner!")
            continue
        state.tasks.log(task, f'Logical volume "{volid.split(":")[-1]}" successfully removed.')
        state.storage.free(volid)
    if unreferenced:
        for vol in state.storage.owned_by(vmid):
            state.tasks.log(
                task, f'Logical volume "{vol.volid.split(":")[-1]}" successfully removed.'
            )
            state.storage.free(vol.volid)


def template(state: SimState, actor: str, vmid: int) -> None:
    """``POST …/template``: returns null; the ``vztemplate`` worker's UPID is discarded."""
    state.auth.check(actor, f"/vms/{vmid}", ["VM.Allocate"])
    ct = state.ct(vmid)
    if ct.lock:
        raise SimApiError(f"CT is locked ({ct.lock})")
    if ct.is_template:
        raise SimApiError(f"CT {vmid} is already a template")
    if ct.status == "running":
        raise SimApiError("unable to create template, because CT contains snapshots or is running")
    make_template(state, ct, actor)


def make_template(state: SimState, ct: Container, actor: str) -> None:
    """Start the ``vztemplate`` worker; its UPID is discarded, as PVE does."""

    def body(task: Task) -> int:
        convert_to_template(state, ct)
        return 0

    state.run_task(actor, "vztemplate", ct.vmid, body=body)


def convert_to_template(state: SimState, ct: Container) -> None:
    """``template_create``: rename disks to ``base-…`` and set ``template: 1``."""
    with state.mutex:
        for key in [k for k in ct.conf if k == "rootfs" or re.fullmatch(r"mp\d+", k)]:
            parts = mount_parts(key, ct.conf[key])
            old = parts["volume"]
            new = old.replace(":vm-", ":base-", 1)
            vol = state.storage.get(old)
            if vol is not None and new != old:
                state.storage.free(old)
                vol.volid = new
                state.storage.add(vol)
                parts["volume"] = new
                ct.conf[key] = mount_render(key, parts)
        ct.conf["template"] = "1"
        state.save_ct(ct)


def status_current(state: SimState, actor: str, vmid: int) -> dict[str, Any]:
    """``GET …/status/current`` (``vmstatus``); counters are zero."""
    state.auth.check(actor, f"/vms/{vmid}", ["VM.Audit"])
    ct = state.ct(vmid)
    return vm_status(state, ct)


def vm_status(state: SimState, ct: Container) -> dict[str, Any]:
    """The status fields PVE reports for one CT."""
    conf = ct.conf
    maxdisk = 4 * GIB
    if "rootfs" in conf:
        vol = state.storage.get(mount_parts("rootfs", conf["rootfs"])["volume"])
        maxdisk = vol.size if vol else maxdisk
    running = ct.status == "running"
    res: dict[str, Any] = {
        "vmid": ct.vmid,
        "type": "lxc",
        "status": ct.status,
        "name": ct.hostname,
        "cpus": int(conf.get("cores", "1")) if conf.get("cores", "1").isdigit() else 1,
        "maxdisk": maxdisk,
        "disk": maxdisk // 8 if running else 0,
        "maxmem": int(conf.get("memory", "512")) << 20,
        "mem": (64 << 20) if running else 0,
        "maxswap": int(conf.get("swap", "512")) << 20,
        "swap": 0,
        "uptime": int(state.clock.now() - ct.started_at) if running and ct.started_at else 0,
        "cpu": 0,
        "netin": 0,
        "netout": 0,
        "diskread": 0,
        "diskwrite": 0,
        "ha": {"managed": 0},
    }
    if running:
        res["pid"] = ct.pid
    if "tags" in conf:
        res["tags"] = conf["tags"]
    if ct.is_template:
        res["template"] = 1
    if ct.lock:
        res["lock"] = ct.lock
    return res


def list_cts(state: SimState, actor: str) -> list[dict[str, Any]]:
    """``GET /nodes/{node}/lxc``: only CTs the caller may audit."""
    with state.mutex:
        cts = sorted(state.cts.values(), key=lambda c: c.vmid)
    out = []
    for ct in cts:
        if state.auth.has(actor, f"/vms/{ct.vmid}", "VM.Audit"):
            item = vm_status(state, ct)
            item.pop("ha", None)
            out.append(item)
    return out


def interfaces(state: SimState, actor: str, vmid: int) -> list[dict[str, Any]] | None:
    """``GET …/interfaces``: ``ip --json a`` inside the CT; null when not running."""
    state.auth.check(actor, f"/vms/{vmid}", ["VM.Audit"])
    ct = state.ct(vmid)
    if ct.status != "running":
        return None
    result = [_iface("lo", "00:00:00:00:00:00", "127.0.0.1/8", "::1/128")]
    for key, value in sorted(ct.nets().items(), key=lambda kv: int(kv[0][3:])):
        net = propstr.parse(value, NET_FORMAT)
        addr = state.dhcp.lease_of(ct, key)
        ip, ip6 = net.get("ip", ""), net.get("ip6", "")
        inet = f"{addr}/16" if addr else (ip if "/" in ip else None)
        # Static IPv6 addresses are configured as given; SLAAC/DHCPv6 are not imitated.
        inet6 = ip6 if "/" in ip6 else None
        result.append(_iface(net["name"], net.get("hwaddr", "").lower(), inet, inet6))
    return result


def _iface(name: str, mac: str, inet: str | None, inet6: str | None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "name": name,
        "hwaddr": mac,
        "hardware-address": mac,
        "ip-addresses": [],
    }
    for fam, addr in (("inet", inet), ("inet6", inet6)):
        if addr:
            item[fam] = addr
            ip, _, prefix = addr.partition("/")
            item["ip-addresses"].append(
                {"ip-address": ip, "ip-address-type": fam, "prefix": int(prefix)}
            )
    return item
