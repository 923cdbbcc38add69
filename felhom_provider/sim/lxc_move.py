"""``POST /nodes/{node}/lxc/{vmid}/move_volume``: hand a volume to another CT on this node.

Source: pve-container ``src/PVE/API2/LXC.pm`` ``move_volume`` (``$load_and_check_reassign_
configs`` and ``$volume_reassignfn``), pve-storage ``rename_volume`` (lvmthin: the next free
``vm-<target>-disk-N``). The rules, in PVE's order:

* ``storage`` and ``target-vmid`` together, or neither: 400 naming both;
* a non-root caller needs ``VM.Config.Disk`` on the target CT too (the schema's check covers
  the source), then ``Datastore.AllocateSpace`` on the volume's storage;
* ``rootfs`` is never moved (``Cannot move to/from 'rootfs'``); an ``unusedN`` only goes to an
  ``unusedN``; both CTs must exist, be unlocked and not templates; ``digest`` /
  ``target-digest`` guard each config; the source key must exist, the target key must be free;
  the storage must support ``rename``; bind and device mount points never move; a configured
  mount point of a running source CT is refused (an ``unusedN`` may move while it runs);
* the ``move_volume`` task (id ``<vmid>-<key>><target>-<target key>``) takes both configs'
  flocks, checks everything again, renames the volume to the target's naming, removes the
  key from the source and adds it to the target (``update_pct_config``: on a running target a
  new mount point is hot-plugged, so its files appear in the guest at once).

The volume keeps its contents (``Volume.files``): files written on a mount point move with it.
``delete`` only matters for a move to another storage and is ignored here, as in PVE.

Not imitated: moving to another storage (``storage``: the simulator has one storage for
container volumes; refused by name), snapshots (none exist), replication, ``bwlimit``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from felhom_provider.sim.auth import ROOT
from felhom_provider.sim.errors import ParamError, SimApiError, TaskError, lock_timeout_message
from felhom_provider.sim.lxc_config import mount_parts, mount_render
from felhom_provider.sim.params import NOT_IMPLEMENTED_MESSAGE
from felhom_provider.sim.storage import STORAGES

if TYPE_CHECKING:
    from felhom_provider.sim.models import Container
    from felhom_provider.sim.state import SimState
    from felhom_provider.sim.tasks import Task

# pve-storage plugins whose volume_has_feature('rename') is true for container volumes.
RENAME_TYPES = frozenset({"lvmthin", "lvm", "dir", "zfspool", "btrfs", "rbd"})
_UNUSED = re.compile(r"^unused\d+$")
MODIFIED = "detected modified configuration - file changed by other user? Try again."


@dataclass(frozen=True)
class Move:
    """One reassignment: source CT and key, target CT and key, the optional digests."""

    vmid: int
    key: str
    target: int
    target_key: str
    digest: str | None = None
    target_digest: str | None = None


def move_volume(state: SimState, actor: str, vmid: int, params: dict[str, Any]) -> str:
    """``POST …/move_volume`` (to another CT): check and start the task; returns its UPID."""
    state.auth.check(actor, f"/vms/{vmid}", ["VM.Config.Disk"])
    target = params.get("target-vmid")
    if target is not None and params.get("storage"):
        msg = "either set 'storage' or 'target-vmid', but not both"
        raise ParamError({"target-vmid": msg, "storage": msg})
    if params.get("storage"):
        raise ParamError({"storage": NOT_IMPLEMENTED_MESSAGE})
    if target is None:
        msg = "both 'storage' and 'target-vmid' missing, either needs to be set"
        raise ParamError({"target-vmid": msg, "storage": msg})
    key = str(params["volume"])
    move = Move(
        vmid,
        key,
        int(target),
        str(params.get("target-volume") or key),
        params.get("digest"),
        params.get("target-digest"),
    )
    if actor != ROOT:
        state.auth.check(actor, f"/vms/{move.target}", ["VM.Config.Disk"])
    volid = _check(state, move)
    storage = volid.split(":", 1)[0]
    state.auth.check(actor, f"/storage/{storage}", ["Datastore.AllocateSpace"])

    def body(task: Task) -> int:
        other = move.target != vmid
        if other and not state.locks.acquire(move.target, task.upid):
            raise TaskError(lock_timeout_message(move.target))
        try:
            _reassign(state, task, move)
        finally:
            if other:
                state.locks.release(move.target)
        return 0

    tid = f"{vmid}-{move.key}>{move.target}-{move.target_key}"
    return state.run_task(actor, "move_volume", vmid, tid=tid, body=body)


def _check(state: SimState, move: Move) -> str:
    """``$load_and_check_reassign_configs``: returns the source volume id."""
    vmid, key, target, target_key = move.vmid, move.key, move.target, move.target_key
    if key == "rootfs" or target_key == "rootfs":
        raise SimApiError("Cannot move to/from 'rootfs'")
    if _UNUSED.match(key) and not _UNUSED.match(target_key):
        raise SimApiError("Moving an unused volume to a used one is not possible")
    with state.mutex:
        source_ct = state.cts.get(vmid)
        target_ct = state.cts.get(target)
    if source_ct is None:
        raise SimApiError(f"could not find CT {vmid}")
    if target_ct is None:
        raise SimApiError(f"could not find CT {target}")
    for ct in (source_ct, target_ct):
        if ct.lock:
            raise SimApiError(f"CT is locked ({ct.lock})")
    if source_ct.is_template or target_ct.is_template:
        raise SimApiError("Can't move volumes from or to template CT")
    if move.digest and move.digest != source_ct.digest():
        raise SimApiError(f"Container {vmid}: {MODIFIED}")
    if move.target_digest and move.target_digest != target_ct.digest():
        raise SimApiError(f"Container {target}: {MODIFIED}")
    if key not in source_ct.conf:
        raise SimApiError(f"volume '{key}' for container '{vmid}' does not exist")
    if target_key in target_ct.conf:
        raise SimApiError(
            f"Target volume key '{target_key}' is already in use for container '{target}'"
        )
    volid = _volid(key, source_ct.conf[key])
    if volid.startswith("/"):
        raise SimApiError("Cannot move a bindmount or device mount to another container")
    sdef = STORAGES.get(volid.split(":", 1)[0])
    if sdef is None or sdef.type not in RENAME_TYPES:
        raise SimApiError("Storage does not support moving of this disk to another container")
    if source_ct.status == "running" and not _UNUSED.match(key):
        raise SimApiError(
            "Cannot move in-use volume while the source CT is running - detach or shutdown first"
        )
    return volid


def _volid(key: str, value: str) -> str:
    if _UNUSED.match(key):
        return value.split(",", maxsplit=1)[0]
    return str(mount_parts(key, value)["volume"])


def _reassign(state: SimState, task: Task, move: Move) -> None:
    """``$volume_reassignfn``: re-check under both flocks, rename, rewrite both configs."""
    log = state.tasks.log
    vmid, key, target, target_key = move.vmid, move.key, move.target, move.target_key
    try:
        volid = _check(state, move)
    except SimApiError as exc:
        raise TaskError(exc.message) from None
    source_ct: Container = state.ct(vmid)
    target_ct: Container = state.ct(target)
    log(task, f"moving volume '{key}' from container '{vmid}' to '{target}'")
    with state.mutex:
        vol = state.storage.rename_to_owner(volid, target)
        old_value = source_ct.conf.pop(key)
        log(task, f"removing volume '{key}' from container '{vmid}' config")
        state.save_ct(source_ct)
        if _UNUSED.match(target_key):
            target_ct.conf[target_key] = vol.volid
        else:
            parts = mount_parts(key, old_value)
            parts["volume"] = vol.volid
            target_ct.conf[target_key] = mount_render(target_key, parts)
        state.save_ct(target_ct)
    log(task, f"target container '{target}' updated with '{target_key}'")
