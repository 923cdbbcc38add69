"""CT configuration rules: per-key permissions, ``PUT …/config``, ``PUT …/resize``, disks.

Sources: pve-container ``PVE/LXC.pm`` ``check_ct_modify_config_perm``, ``API2/LXC/Config.pm``
``update_vm``, ``Config.pm`` ``update_pct_config``/``vmconfig_apply_pending``/
``parse_lxc_network``, ``API2/LXC.pm`` ``resize_vm``.

Pending changes and hot-plug follow ``Config.pm`` (see ``lxc_pending``). Not imitated: bind
and device mount points (refused), quotas, ``mountoptions`` effects.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from felhom_provider.sim import lxc_pending, pctconf, propstr
from felhom_provider.sim.auth import ROOT
from felhom_provider.sim.errors import ParamError, PermissionCheckError, SimApiError, TaskError
from felhom_provider.sim.network import random_mac
from felhom_provider.sim.params import FEATURES_FORMAT, MP_FORMAT, NET_FORMAT, ROOTFS_FORMAT
from felhom_provider.sim.storage import GIB, STORAGES

if TYPE_CHECKING:
    from felhom_provider.sim.models import Container
    from felhom_provider.sim.state import SimState

NEW_DISK_RE = re.compile(r"^([^:\s]+):(\d+(\.\d+)?)$")  # Config.pm $NEW_DISK_RE
MP_KEY = re.compile(r"^(rootfs|mp\d+)$")
NET_KEY = re.compile(r"^net\d+$")
CPU_KEYS = {"cores", "cpuunits", "cpulimit"}
MEM_KEYS = {"memory", "swap"}
NETWORK_KEYS = {"hostname", "nameserver", "searchdomain"}
CONFIG_PRIVS = [
    "VM.Config.Disk",
    "VM.Config.CPU",
    "VM.Config.Memory",
    "VM.Config.Network",
    "VM.Config.Options",
]
REQUIRED_KEYS = {"memory", "rootfs", "ostype"}
META_KEYS = {"node", "vmid", "digest", "delete", "revert"}


def check_bridge(state: SimState, actor: str, bridge: str | None) -> None:
    """``check_vnet_access``: SDN.Use on ``/sdn/zones/localnetwork/<bridge>``."""
    if bridge is None or actor == ROOT:
        return
    state.auth.check(actor, f"/sdn/zones/localnetwork/{bridge}", ["SDN.Use"])


def check_modify_perm(
    state: SimState,
    actor: str,
    vmid: int,
    params: dict[str, Any],
    delete: list[str],
    *,
    unprivileged: bool,
    old_features: str | None,
) -> None:
    """Per-key permission checks of ``check_ct_modify_config_perm`` (root@pam skips them)."""
    if actor == ROOT:
        return
    path = f"/vms/{vmid}"
    for key in sorted(set(params) | set(delete)):
        value = params.get(key)
        if key in CPU_KEYS:
            state.auth.check(actor, path, ["VM.Config.CPU"])
        elif MP_KEY.match(key):
            state.auth.check(actor, path, ["VM.Config.Disk"])
            if value is not None:
                volume = mount_parts(key, str(value))["volume"]
                if volume.startswith("/"):
                    raise PermissionCheckError("mount point type bind is only allowed for root@pam")
                m = NEW_DISK_RE.match(volume)
                if m:
                    state.auth.check(actor, f"/storage/{m.group(1)}", ["Datastore.AllocateSpace"])
        elif key in MEM_KEYS:
            state.auth.check(actor, path, ["VM.Config.Memory"])
        elif NET_KEY.match(key):
            state.auth.check(actor, path, ["VM.Config.Network"])
            if value is not None:
                check_bridge(state, actor, propstr.parse(str(value), NET_FORMAT).get("bridge"))
        elif key in NETWORK_KEYS:
            state.auth.check(actor, path, ["VM.Config.Network"])
        elif re.fullmatch(r"dev\d+", key) or key == "hookscript":
            raise PermissionCheckError(f"changing '{key}' is only allowed for root@pam")
        elif key == "features":
            _check_features(state, actor, path, value, old=old_features, unprivileged=unprivileged)
        else:
            state.auth.check(actor, path, ["VM.Config.Options"])


def _check_features(
    state: SimState, actor: str, path: str, value: Any, *, old: str | None, unprivileged: bool
) -> None:
    if not unprivileged:
        raise PermissionCheckError(
            "changing feature flags for privileged container is only allowed for root@pam"
        )
    new_f = propstr.parse(str(value), FEATURES_FORMAT) if value is not None else {}
    old_f = propstr.parse(old, FEATURES_FORMAT) if old else {}
    for flag in set(new_f) | set(old_f):
        if _truthy(new_f.get(flag, "0")) != _truthy(old_f.get(flag, "0")) and flag != "nesting":
            raise PermissionCheckError(
                "changing feature flags (except nesting) is only allowed for root@pam"
            )
    state.auth.check(actor, path, ["VM.Allocate"])


def _truthy(v: str) -> str:
    low = v.lower()
    return (
        "1"
        if low in ("1", "true", "yes", "on")
        else ("0" if low in ("0", "false", "no", "off") else v)
    )


def net_value(value: str) -> str:
    """``parse_lxc_network`` + print: fill a missing ``hwaddr`` with a fresh BC:24:11 MAC."""
    parts: dict[str, Any] = dict(propstr.parse(value, NET_FORMAT))
    if "hwaddr" not in parts:
        parts["hwaddr"] = random_mac()
    parts.setdefault("type", "veth")
    parts["hwaddr"] = parts["hwaddr"].upper()
    return pctconf.normalise("net0", propstr.render(parts, NET_FORMAT))


def check_storage_for_disks(volume: str, field: str) -> None:
    """A new disk's storage must exist and hold container directories (400 otherwise)."""
    m = NEW_DISK_RE.match(volume)
    if not m:
        raise ParamError(
            {field: "the simulator only allocates new volumes given as STORAGE:SIZE_GiB"}
        )
    sid = m.group(1)
    if sid not in STORAGES:
        raise ParamError({field: f"storage '{sid}' does not exist"})
    if "rootdir" not in STORAGES[sid].content:
        raise ParamError({"storage": f"storage '{sid}' does not support container directories"})


def mount_parts(key: str, value: str) -> dict[str, Any]:
    """Parse a ``rootfs``/``mpN`` value with the right format."""
    return dict(propstr.parse(value, ROOTFS_FORMAT if key == "rootfs" else MP_FORMAT))


def mount_render(key: str, parts: dict[str, Any]) -> str:
    """Print a ``rootfs``/``mpN`` value in PVE's order."""
    return pctconf.normalise(
        key, propstr.render(parts, ROOTFS_FORMAT if key == "rootfs" else MP_FORMAT)
    )


def alloc_mount(state: SimState, vmid: int, key: str, value: str) -> str:
    """``create_disks``: allocate ``STORAGE:SIZE`` and return the stored value with ``size=``."""
    parts = mount_parts(key, value)
    m = NEW_DISK_RE.match(parts["volume"])
    if not m:
        raise TaskError(f"unable to parse volume '{parts['volume']}'")
    size = int(float(m.group(2)) * GIB)
    vol = state.storage.alloc_disk(m.group(1), vmid, size, state.clock.now())
    parts["volume"] = vol.volid
    parts["size"] = propstr.format_size(size)
    return mount_render(key, parts)


def free_unused_slot(conf: dict[str, str]) -> str:
    """The first free ``unusedN`` key."""
    n = 0
    while f"unused{n}" in conf:
        n += 1
    return f"unused{n}"


def set_config(state: SimState, actor: str, vmid: int, params: dict[str, Any]) -> None:
    """``PUT …/config`` (``update_vm``): synchronous, under the CT flock; returns None.

    Changes go through ``[pve:pending]`` (``lxc_pending``): applied at once on a stopped CT,
    hot-plugged or fast-plugged on a running one where PVE does, left pending otherwise.
    """
    state.auth.check(actor, f"/vms/{vmid}", CONFIG_PRIVS, any_=True)
    changes = {k: v for k, v in params.items() if k not in META_KEYS}
    delete = _keys(params.get("delete"))
    revert = _keys(params.get("revert"))
    if not changes and not delete and not revert:
        raise SimApiError("no options specified")
    ct = state.ct(vmid)
    state.flock(vmid)
    try:
        if ct.lock:
            raise SimApiError(f"CT is locked ({ct.lock})")
        if "digest" in params and params["digest"] != ct.digest():
            raise SimApiError(
                "detected modified configuration - file changed by other user? Try again."
            )
        unpriv = ct.conf.get("unprivileged") == "1"
        old_features = ct.conf.get("features")
        for keys in (delete, revert):
            check_modify_perm(
                state, actor, vmid, {}, keys, unprivileged=unpriv, old_features=old_features
            )
        _check_delete_revert(changes, delete, revert)
        check_modify_perm(
            state, actor, vmid, changes, [], unprivileged=unpriv, old_features=old_features
        )
        normal = {k: _queued_value(k, str(v)) for k, v in changes.items()}
        with state.mutex:
            before = (dict(ct.conf), dict(ct.pending))
            try:
                modified = lxc_pending.queue(ct, normal, delete, revert)
            except SimApiError:
                ct.conf, ct.pending = before  # PVE dies before write_config
                raise

            def apply(c: Container, key: str, value: str | None) -> None:
                apply_key(state, c, key, value)

            if ct.status == "running":
                lxc_pending.hotplug(ct, modified, apply)
            else:
                lxc_pending.apply_all(ct, apply, modified)
            state.save_ct(ct)
    finally:
        state.locks.release(vmid)


def _check_delete_revert(changes: dict[str, Any], delete: list[str], revert: list[str]) -> None:
    """``update_vm``'s parameter checks on ``delete``/``revert`` (400, keyed by parameter)."""
    for key in revert:
        if not pctconf.key_spec(key):
            raise ParamError({"revert": f"unknown option '{key}'"})
        if key in changes:
            raise ParamError(
                {"revert": f"you can't use '-{key}' and '-revert {key}' at the same time"}
            )
    for key in delete:
        if not pctconf.key_spec(key):
            raise ParamError({"delete": f"unknown option '{key}'"})
        if key in changes:
            raise ParamError(
                {"delete": f"you can't use '-{key}' and -delete {key}' at the same time"}
            )
        if key in revert:
            raise ParamError(
                {"delete": f"you can't use '-delete {key}' and '-revert {key}' at the same time"}
            )


def _keys(value: Any) -> list[str]:
    return [d for d in re.split(r"[;, ]+", str(value or "")) if d]


BRIDGE_MTU = 1500


def _queued_value(key: str, value: str) -> str:
    """What ``update_pct_config`` writes to pending: property strings re-printed, a missing
    ``hwaddr`` filled in, the bridge MTU enforced; ``STORAGE:SIZE`` disks stay unallocated."""
    if NET_KEY.match(key):
        mtu = propstr.parse(value, NET_FORMAT).get("mtu")
        if mtu is not None and int(mtu) > BRIDGE_MTU:
            raise SimApiError(f"{key}: MTU size '{mtu}' is bigger than bridge MTU '{BRIDGE_MTU}'")
        return net_value(value)
    if MP_KEY.match(key):
        volume = mount_parts(key, value)["volume"]
        if NEW_DISK_RE.match(volume):
            check_storage_for_disks(volume, key)
            return value
    if key == "tags":
        return ";".join(dict.fromkeys(t for t in re.split(r"[;, ]+", value) if t))
    return pctconf.normalise(key, value)


def apply_key(state: SimState, ct: Container, key: str, value: str | None) -> None:
    """Apply one pending key (``vmconfig_apply_pending``/``apply_pending_mountpoint``).

    Deleting ``mpN`` parks its volume in ``unusedN``; deleting ``unusedN`` frees the volume
    if the CT owns it; a ``STORAGE:SIZE`` mount point allocates its disk, and the volume it
    replaces goes to ``unusedN``.
    """
    conf = ct.conf
    if value is None:
        old = conf.pop(key, None)
        if old is None:
            return
        if MP_KEY.match(key) and key != "rootfs":
            conf[free_unused_slot(conf)] = mount_parts(key, old)["volume"]
        elif key.startswith("unused"):
            volid = old.split(",", maxsplit=1)[0]
            vol = state.storage.get(volid)
            if vol is not None and vol.vmid == ct.vmid:
                state.storage.free(volid)
        return
    if MP_KEY.match(key) and NEW_DISK_RE.match(mount_parts(key, value)["volume"]):
        old = conf.get(key)
        conf[key] = alloc_mount(state, ct.vmid, key, value)
        if old is not None:
            conf[free_unused_slot(conf)] = mount_parts(key, old)["volume"]
        return
    conf[key] = value


def resize(
    state: SimState, actor: str, vmid: int, disk: str, size: str, *, digest: str | None = None
) -> str:
    """``PUT …/resize``: synchronous pre-checks, then a ``resize`` task holding the flock."""
    state.auth.check(actor, f"/vms/{vmid}", ["VM.Config.Disk"], any_=True)
    ct = state.ct(vmid)
    if ct.lock:
        raise SimApiError(f"CT is locked ({ct.lock})")
    if digest is not None and digest != ct.digest():
        raise SimApiError(
            "detected modified configuration - file changed by other user? Try again."
        )
    if disk not in ct.conf:
        raise SimApiError(f"no such disk '{disk}'")
    volid = mount_parts(disk, ct.conf[disk])["volume"]
    vol = state.storage.get(volid)
    if vol is None:
        raise SimApiError(f"Could not determine current size of volume '{volid}'")
    if actor != ROOT:
        state.auth.check(actor, f"/storage/{vol.storage}", ["Datastore.AllocateSpace"])
    current = vol.size
    new = (
        current + propstr.parse_size(size[1:]) if size.startswith("+") else propstr.parse_size(size)
    )
    if new < current:
        raise SimApiError("unable to shrink disk size")
    if new == current:
        raise SimApiError("disk is already at specified size")

    def body(task: Any) -> int:
        state.tasks.log(
            task, f"Size of logical volume {volid} changed from {current} to {new} bytes."
        )
        with state.mutex:
            state.storage.resize(volid, new)
            cur = mount_parts(disk, ct.conf[disk])
            cur["size"] = propstr.format_size(new)
            ct.conf[disk] = mount_render(disk, cur)
            state.save_ct(ct)
        state.tasks.log(task, "resize2fs 1.47.2 (1-Jan-2025)")
        return 0

    return state.run_task(actor, "resize", vmid, body=body)
