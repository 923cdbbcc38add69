"""Backups and storage content: vzdump, extractconfig, content listing, volume delete.

Sources: pve-manager ``PVE/API2/VZDump.pm`` and ``PVE/VZDump.pm`` (archive names, log lines),
pve-container ``VZDump/LXC.pm`` (``./etc/vzdump/pct.conf`` minus lock/snapshots/parent/
pending), pve-storage ``Storage.pm`` ``check_volume_access`` and ``API2/Storage/Content.pm``.
``protected=1`` marks the new archive after it is written (``VZDump.pm``, "marking backup as
protected"); the limit and the attribute rules are in ``volume_attrs.py``.

An archive is a real tar file in ``<state>/storage/local/dump`` with ``./etc/vzdump/pct.conf``
and ``./etc/vzdump/felhom-sim-guest.json`` (the guest payload).

Not imitated: compression (the file is a plain tar whatever its ``.zst``/``.gz`` name says),
file-system contents, ``snapshot``/``suspend`` modes (all behave like ``stop`` without
stopping a running CT), pruning (``remove`` has no effect: storages keep every archive; PVE's
prune would skip protected ones anyway), PBS,
notifications, several guests per job beyond looping, the node-wide vzdump lock.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from felhom_provider.sim import pctconf
from felhom_provider.sim.auth import ROOT
from felhom_provider.sim.errors import SimApiError, TaskError, lock_timeout_message
from felhom_provider.sim.lxc_power import stop_now
from felhom_provider.sim.persist import atomic_write_bytes
from felhom_provider.sim.storage import STORAGES, Volume, backup_owner

if TYPE_CHECKING:
    from felhom_provider.sim.state import SimState
    from felhom_provider.sim.tasks import Task

CONF_MEMBER = "./etc/vzdump/pct.conf"
GUEST_MEMBER = "./etc/vzdump/felhom-sim-guest.json"
_EXT = {"0": ".tar", "1": ".tar.lzo", "gzip": ".tar.gz", "lzo": ".tar.lzo", "zstd": ".tar.zst"}
_FORMAT = {".tar": "tar", ".tar.lzo": "tar.lzo", ".tar.gz": "tar.gz", ".tar.zst": "tar.zst"}


def volume_access(state: SimState, actor: str, vol: Volume) -> bool:
    """``check_volume_access`` as a predicate (used to filter listings and gate restores)."""
    if actor == ROOT:
        return True
    auth, spath = state.auth, f"/storage/{vol.storage}"
    if auth.has(actor, spath, "Datastore.Allocate"):
        return True
    if vol.content in ("vztmpl", "iso"):
        return auth.has(actor, spath, "Datastore.AllocateSpace") or auth.has(
            actor, spath, "Datastore.Audit"
        )
    owner = backup_owner(vol.volid) if vol.content == "backup" else vol.vmid
    if not owner or not auth.has(actor, spath, "Datastore.AllocateSpace"):
        return False
    need = "VM.Backup" if vol.content == "backup" else "VM.Config.Disk"
    return auth.has(actor, f"/vms/{owner}", need)


def check_volume_access(state: SimState, actor: str, vol: Volume) -> None:
    """Raise 403 naming the missing privilege when ``volume_access`` says no."""
    if volume_access(state, actor, vol):
        return
    spath = f"/storage/{vol.storage}"
    state.auth.check(actor, spath, ["Datastore.AllocateSpace"])
    owner = backup_owner(vol.volid) if vol.content == "backup" else vol.vmid
    state.auth.check(actor, f"/vms/{owner}", ["VM.Backup"])


#: ``get_max_protected_backups`` without ``Datastore.Allocate`` on the storage.
DEFAULT_MAX_PROTECTED = 5


def max_protected(state: SimState, actor: str, storage: str) -> int:
    """``get_max_protected_backups``: -1 (unlimited) with ``Datastore.Allocate``, else 5."""
    if actor == ROOT or state.auth.has(actor, f"/storage/{storage}", "Datastore.Allocate"):
        return -1
    return DEFAULT_MAX_PROTECTED


def protect_limit_error(state: SimState, actor: str, storage: str, vmid: int) -> str | None:
    """The refusal text when guest ``vmid`` already has as many protected backups on
    ``storage`` as ``actor`` may keep (``Storage.pm``/``VZDump.pm``), else ``None``."""
    limit = max_protected(state, actor, storage)
    if limit < 0 or not vmid:
        return None
    count = sum(1 for v in state.storage.list(storage, "backup", vmid) if v.protected)
    if count < limit:
        return None
    return f"The number of protected backups per guest is limited to {limit} on storage '{storage}'"


def read_archive(state: SimState, volid: str) -> tuple[str, dict[str, Any]]:
    """The pct.conf text and guest payload inside an archive."""
    path = state.storage.dump_dir() / volid.rsplit("/", maxsplit=1)[-1]
    if not path.exists():
        raise SimApiError(f"ERROR: file '/var/lib/vz/dump/{path.name}' does not exist")
    with tarfile.open(path, "r:") as tar:
        try:
            member = tar.extractfile(CONF_MEMBER)
        except KeyError:
            raise SimApiError("ERROR: archive contains no configuration file") from None
        conf_text = member.read().decode() if member else ""
        try:
            gmember = tar.extractfile(GUEST_MEMBER)
            guest = json.loads(gmember.read()) if gmember else {}
        except KeyError:
            guest = {}
    return conf_text, guest


def _write_archive(state: SimState, name: str, conf_text: str, guest: dict[str, Any]) -> int:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:") as tar:
        for member, data in (
            (CONF_MEMBER, conf_text.encode()),
            (GUEST_MEMBER, json.dumps(guest).encode()),
        ):
            info = tarfile.TarInfo(member)
            info.size = len(data)
            info.mtime = int(state.clock.now())
            tar.addfile(info, io.BytesIO(data))
    atomic_write_bytes(state.storage.dump_dir() / name, buf.getvalue())
    return len(buf.getvalue())


def rewrite_archive_guest(
    state: SimState, volid: str, change: Callable[[dict[str, Any]], dict[str, Any]]
) -> None:
    """Simulator control only: replace an archive's guest payload by ``change(payload)``.

    The pct.conf member, the name and the volume entry stay; the file size is updated.
    """
    vol = state.storage.get(volid)
    if vol is None or vol.content != "backup":
        raise SimApiError(f"volume '{volid}' does not exist")
    conf_text, guest = read_archive(state, volid)
    name = volid.rsplit("/", maxsplit=1)[-1]
    vol.size = _write_archive(state, name, conf_text, change(guest))
    state.storage.add(vol)


def vzdump(state: SimState, actor: str, params: dict[str, Any]) -> str:
    """``POST /nodes/{node}/vzdump``: one ``vzdump`` task backing up each listed CT."""
    storage = params.get("storage", "local")
    if storage not in STORAGES or "backup" not in STORAGES[storage].content:
        raise SimApiError(f"storage '{storage}' does not support backups")
    if actor != ROOT:
        state.auth.check(actor, f"/storage/{storage}", ["Datastore.AllocateSpace"])
    vmids = [int(v) for v in re.split(r"[;, ]+", str(params.get("vmid", ""))) if v]
    if not vmids:
        raise SimApiError("no guests selected (use vmid or all)")
    mode = params.get("mode", "snapshot")
    ext = _EXT[str(params.get("compress", "0"))]
    locked: list[int] = []
    failed: list[int] = []

    def begin(task: Task) -> None:
        for vmid in vmids:
            ct = state.cts.get(vmid)
            if ct is None or not state.auth.has(actor, f"/vms/{vmid}", "VM.Backup"):
                continue
            if not state.locks.acquire(vmid, task.upid):
                continue
            try:
                if not ct.lock:
                    ct.conf["lock"] = "backup"
                    state.save_ct(ct)
                    locked.append(vmid)
            finally:
                state.locks.release(vmid)

    def body(task: Task) -> int:
        for vmid in vmids:
            try:
                _backup_one(
                    state,
                    task,
                    actor,
                    vmid,
                    storage=storage,
                    mode=mode,
                    ext=ext,
                    params=params,
                    locked=vmid in locked,
                )
            except TaskError as exc:
                failed.append(vmid)
                _unlock_backup(state, vmid, locked)
                state.tasks.log(task, f"ERROR: Backup of VM {vmid} failed - {exc.message}")
        if failed:
            raise TaskError("job errors")
        state.tasks.log(task, "INFO: Backup job finished successfully")
        return 0

    def cleanup(task: Task) -> None:
        # A task that fails as a whole (an injected failure, say) still runs vzdump's
        # cleanup, which unlocks every guest it locked (design §4.11: "for the duration").
        for vmid in vmids:
            _unlock_backup(state, vmid, locked)

    tid = str(vmids[0]) if len(vmids) == 1 else ""
    return state.run_task(
        actor,
        "vzdump",
        vmids[0] if len(vmids) == 1 else None,
        tid=tid,
        lock=None,
        begin=begin,
        body=body,
        on_error=cleanup,
    )


def _unlock_backup(state: SimState, vmid: int, locked: list[int]) -> None:
    """Drop the ``lock: backup`` this job set on ``vmid`` (no-op for guests it did not lock)."""
    if vmid not in locked:
        return
    with state.mutex:
        ct = state.cts.get(vmid)
        if ct is not None and ct.conf.get("lock") == "backup":
            ct.conf.pop("lock", None)
            state.save_ct(ct)


def _backup_one(
    state: SimState,
    task: Task,
    actor: str,
    vmid: int,
    *,
    storage: str,
    mode: str,
    ext: str,
    params: dict[str, Any],
    locked: bool,
) -> None:
    log = state.tasks.log
    log(task, f"INFO: Starting Backup of VM {vmid} (lxc)")
    ct = state.cts.get(vmid)
    if ct is None:
        raise TaskError(f"Configuration file 'nodes/{state.node}/lxc/{vmid}.conf' does not exist")
    if not state.auth.has(actor, f"/vms/{vmid}", "VM.Backup"):
        raise TaskError(f"Permission check failed (/vms/{vmid}, VM.Backup)")
    if not locked:
        if state.locks.holder(vmid) is not None:
            raise TaskError(lock_timeout_message(vmid))
        raise TaskError(f"CT is locked ({ct.lock})")
    if params.get("protected"):
        # VZDump.pm checks the protected-backup limit before it writes anything.
        refused = protect_limit_error(state, actor, storage, vmid)
        if refused:
            raise TaskError(refused)
    started = state.clock.now()
    stamp = time.strftime("%Y_%m_%d-%H_%M_%S", time.localtime(started))
    name = f"vzdump-lxc-{vmid}-{stamp}{ext}"
    was_running = ct.status == "running"
    log(task, f"INFO: backup mode: {mode}")
    if was_running and mode == "stop":
        log(task, "INFO: stopping virtual guest")
        stop_now(state, ct)
    log(task, f"INFO: creating vzdump archive '/var/lib/vz/dump/{name}'")
    conf = {k: v for k, v in ct.conf.items() if k not in ("lock", "snapshots", "parent", "pending")}
    size = _write_archive(
        state, name, pctconf.render(conf, ct.raw_lxc), state.hooks.archive_payload(ct)
    )
    notes = None
    if "notes-template" in params:
        notes = str(params["notes-template"])
        for var, val in (
            ("guestname", ct.hostname),
            ("node", state.node),
            ("vmid", str(vmid)),
            ("cluster", state.node),
        ):
            notes = notes.replace("{{" + var + "}}", val)
    vol = Volume(
        f"{storage}:backup/{name}",
        "backup",
        size,
        vmid,
        _FORMAT[ext],
        int(started),
        notes=notes,
        protected=bool(params.get("protected")),
    )
    log(task, f"INFO: archive file size: {max(1, size // 1024)}KB")
    if vol.protected:
        # VZDump.pm marks the archive before it prunes, so pruning never sees it unprotected.
        log(task, "INFO: marking backup as protected")
    state.storage.add(vol)
    if was_running and mode == "stop":
        log(task, "INFO: restarting vm")
        with state.mutex:
            ct.status = "running"
            state.save_ct(ct)
        state.hooks.on_start(ct, state.dhcp.lease_of(ct, "net0"))
    with state.mutex:
        ct.conf.pop("lock", None)
        state.save_ct(ct)
    log(
        task,
        f"INFO: Finished Backup of VM {vmid} (00:00:{int(state.clock.now() - started) % 60:02d})",
    )


def extractconfig(state: SimState, actor: str, volume: str) -> str:
    """``GET /nodes/{node}/vzdump/extractconfig``: the archive's pct.conf text."""
    vol = state.storage.get(volume)
    if vol is None:
        raise SimApiError(
            f"ERROR: file '/var/lib/vz/dump/{volume.rsplit('/', maxsplit=1)[-1]}' does not exist"
        )
    check_volume_access(state, actor, vol)
    owner = backup_owner(volume)
    if owner and actor != ROOT:
        state.auth.check(actor, f"/vms/{owner}", ["VM.Backup"])
    return read_archive(state, volume)[0]


def storage_list(state: SimState, actor: str, content: str | None) -> list[dict[str, Any]]:
    """``GET /nodes/{node}/storage``: storages the caller may see."""
    out = []
    for sid, sdef in STORAGES.items():
        path = f"/storage/{sid}"
        if not (
            state.auth.has(actor, path, "Datastore.Audit")
            or state.auth.has(actor, path, "Datastore.AllocateSpace")
        ):
            continue
        if content and not set(content.split(",")) & set(sdef.content):
            continue
        out.append(state.storage.status(sid))
    return out


def storage_content(
    state: SimState, actor: str, storage: str, content: str | None, vmid: int | None
) -> list[dict[str, Any]]:
    """``GET …/storage/{storage}/content``: items silently filtered by volume access."""
    state.auth.check(
        actor, f"/storage/{storage}", ["Datastore.Audit", "Datastore.AllocateSpace"], any_=True
    )
    if storage not in STORAGES:
        raise SimApiError(f"storage '{storage}' does not exist")
    vols = state.storage.list(storage, content, vmid)
    return [v.content_json() for v in vols if volume_access(state, actor, v)]


def delete_volume(state: SimState, actor: str, storage: str | None, volume: str) -> str:
    """``DELETE …/storage/{storage}/content/{volume}``: an ``imgdel`` task."""
    volid = volume if ":" in volume else f"{storage}:{volume}"
    vol = state.storage.get(volid)
    if vol is None:
        raise SimApiError(f"volume '{volid}' does not exist")
    owner = backup_owner(volid) if vol.content == "backup" else None
    if actor != ROOT:
        if owner:
            state.auth.check(actor, f"/storage/{vol.storage}", ["Datastore.AllocateSpace"])
            state.auth.check(actor, f"/vms/{owner}", ["VM.Backup"])
        else:
            state.auth.check(actor, f"/storage/{vol.storage}", ["Datastore.Allocate"])
    with state.mutex:
        users = [ct.vmid for ct in state.cts.values() if any(volid in v for v in ct.conf.values())]
    if users:
        raise SimApiError(f"unable to delete '{volid}' - volume is in use by CT {users[0]}")

    def body(task: Task) -> int:
        # Plugin.pm free_image refuses inside the worker: the DELETE answers a UPID and the
        # imgdel task fails. ``volname`` is the volid without its storage prefix.
        if vol.protected:
            volname = volid.split(":", 1)[1]
            raise TaskError(f"cannot remove protected volume '{volname}' on '{vol.storage}'")
        state.tasks.log(task, f"Removed volume '{volid}'")
        state.storage.free(volid)
        return 0

    return state.run_task(
        actor, "imgdel", None, tid=volid.replace("/", "_").replace(":", "_"), body=body
    )
