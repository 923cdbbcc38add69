"""Volume attributes: ``PUT …/storage/{storage}/content/{volume}`` (notes, protected).

Sources: pve-storage ``PVE/API2/Storage/Content.pm`` ``updateattributes`` (volume id from
``storage`` + ``volume``, ``check_volume_access``, each of ``notes``/``protected`` that is
present is applied), ``PVE/Storage.pm`` ``update_volume_attribute`` and
``get_max_protected_backups`` (the per-guest limit of protected backups, in
``backup.protect_limit_error``: the storage's ``max-protected-backups``, else unlimited with
``Datastore.Allocate`` on the storage and 5 without), ``PVE/Storage/DirPlugin.pm``
``update_volume_attribute`` (only backups take ``protected``; the flag is a
``<archive>.protected`` file, so setting it twice is a no-op).

A protected backup cannot be removed: ``Plugin.pm`` ``free_image`` dies with
``cannot remove protected volume '<volname>' on '<storage>'`` inside the ``imgdel`` worker
(``backup.delete_volume``), and pruning skips it (``Plugin.pm`` ``prune_backups`` marks it
``protected``; the simulator does not prune at all).

Not imitated: a storage-level ``max-protected-backups`` setting (the simulated storages have
none, so the privilege rule above decides); attributes of non-backup volumes are refused with
the dir plugin's ``protected`` text for ``notes`` too; a volume that does not exist is
refused (``volume '…' does not exist``) where PVE's dir plugin would just write or remove a
stray ``.protected``/``.notes`` file.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from felhom_provider.sim.backup import check_volume_access, protect_limit_error
from felhom_provider.sim.errors import ParamError, SimApiError
from felhom_provider.sim.storage import STORAGES

if TYPE_CHECKING:
    from felhom_provider.sim.state import SimState


def real_volume_id(storage: str | None, volume: str) -> str:
    """``$real_volume_id`` of ``Content.pm``: a full volid, or ``storage:volume``."""
    if ":" in volume:
        sid = volume.split(":", 1)[0]
        if storage and sid != storage:
            raise ParamError({"volume": f"storage ID mismatch ({sid} != {storage})\n"})
        return volume
    if not storage:
        raise ParamError({"volume": "no storage specified - incomplete volume ID"})
    return f"{storage}:{volume}"


def update_attributes(
    state: SimState, actor: str, storage: str | None, volume: str, params: Mapping[str, Any]
) -> None:
    """``PUT …/content/{volume}``: set ``notes`` and/or ``protected``; answers ``null``."""
    volid = real_volume_id(storage, volume)
    sid = volid.split(":", 1)[0]
    if sid not in STORAGES:
        raise SimApiError(f"storage '{sid}' does not exist")
    vol = state.storage.get(volid)
    if vol is None:
        raise SimApiError(f"volume '{volid}' does not exist")
    check_volume_access(state, actor, vol)
    if vol.content != "backup" and ("notes" in params or "protected" in params):
        attr = "notes" if "notes" in params else "protected"
        raise SimApiError(f"only backups support attribute '{attr}'")
    with state.mutex:
        if "notes" in params:
            # DirPlugin writes ``<archive>.notes``; empty notes remove the file.
            vol.notes = str(params["notes"]) or None
        if "protected" in params:
            on = bool(int(params["protected"]))
            refused = protect_limit_error(state, actor, vol.storage, vol.vmid)
            if on and not vol.protected and refused:
                raise SimApiError(refused)
            vol.protected = on
        state.storage.add(vol)
