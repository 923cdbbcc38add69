"""Storages and volumes: ``local`` (dir) and ``local-lvm`` (lvmthin), as on a stock node.

A volume is a registry entry (volid, size, owner vmid, content type); backup archives are
also real files under ``<state>/storage/local/dump`` holding the CT's pct.conf and guest
payload (see ``backup.py``). The registry is persisted one small JSON file per volume under
``<state>/volumes`` so that allocating a disk costs one write, not a rewrite of all volumes.

Not imitated: thin-pool overcommit accounting beyond a simple sum, storage.cfg editing,
shared storages, other plugin types, the ``import``/``iso``/``snippets`` content types.
"""

from __future__ import annotations

import re
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from felhom_provider.sim.persist import atomic_write_json, read_json

GIB = 1 << 30
TEMPLATE_VOLID = "local:vztmpl/debian-13-standard_13.1-2_amd64.tar.zst"
_BACKUP_NAME = re.compile(
    r"^vzdump-(lxc|qemu)-(\d+)-(\d{4})_(\d\d)_(\d\d)-(\d\d)_(\d\d)_(\d\d)\.tar(\.zst)?$"
)


@dataclass(frozen=True)
class StorageDef:
    """A storage from storage.cfg: id, plugin type, content types, capacity in bytes."""

    storage: str
    type: str
    content: tuple[str, ...]
    total: int


STORAGES: dict[str, StorageDef] = {
    "local": StorageDef("local", "dir", ("backup", "iso", "vztmpl"), 100 * GIB),
    "local-lvm": StorageDef("local-lvm", "lvmthin", ("images", "rootdir"), 1024 * GIB),
}


@dataclass
class Volume:
    """One volume: ``content`` is rootdir/images/vztmpl/backup; ``vmid`` owns it (0 = none)."""

    volid: str
    content: str
    size: int
    vmid: int
    format: str
    ctime: int
    notes: str | None = None
    protected: bool = False
    # What the guest wrote on a mount point volume: path below the volume root -> node
    # (``guest.mounts``); empty for fresh volumes and for rootfs volumes (see there).
    files: dict[str, Any] = field(default_factory=dict)

    @property
    def storage(self) -> str:
        """The storage id part of the volid."""
        return self.volid.split(":", 1)[0]

    def content_json(self) -> dict[str, Any]:
        """An item of ``GET …/storage/{storage}/content``."""
        res: dict[str, Any] = {
            "volid": self.volid,
            "content": self.content,
            "format": self.format,
            "size": self.size,
            "ctime": self.ctime,
        }
        if self.vmid:
            res["vmid"] = self.vmid
        if self.content == "backup":
            res["subtype"] = "lxc"
        if self.notes:
            res["notes"] = self.notes.split("\n", 1)[0]
        if self.protected:
            res["protected"] = 1
        if self.content in ("rootdir", "images"):
            res["used"] = self.size // 8
        return res


def backup_owner(volid: str) -> int | None:
    """The vmid encoded in a ``vzdump-lxc-<vmid>-…`` archive name (PVE's owner rule)."""
    m = _BACKUP_NAME.match(volid.rsplit("/", maxsplit=1)[-1])
    return int(m.group(2)) if m else None


class StorageRegistry:
    """Volume registry with allocation of ``vm-<vmid>-disk-N`` names."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._dir = root / "volumes"
        self._lock = threading.RLock()
        self.volumes: dict[str, Volume] = {}

    def load(self, now: float) -> None:
        """Load the registry; on first start preload the Debian 13 template."""
        if not self._dir.is_dir():
            self.add(Volume(TEMPLATE_VOLID, "vztmpl", 126_345_216, 0, "tzst", int(now)))
            return
        for path in self._dir.glob("*.json"):
            data = read_json(path)
            if isinstance(data, dict):
                self.volumes[data["volid"]] = Volume(**data)

    def _file(self, volid: str) -> Path:
        return self._dir / (volid.replace(":", "_").replace("/", "+") + ".json")

    def _save(self, vol: Volume) -> None:
        atomic_write_json(self._file(vol.volid), asdict(vol))

    def dump_dir(self) -> Path:
        """Where ``local``'s backup archives live on disk."""
        return self.root / "storage" / "local" / "dump"

    def get(self, volid: str) -> Volume | None:
        """The volume with this volid."""
        with self._lock:
            return self.volumes.get(volid)

    def alloc_disk(self, storage: str, vmid: int, size: int, now: float) -> Volume:
        """Allocate the next free ``<storage>:vm-<vmid>-disk-N`` of ``size`` bytes."""
        with self._lock:
            n = 0
            while f"{storage}:vm-{vmid}-disk-{n}" in self.volumes:
                n += 1
            vol = Volume(f"{storage}:vm-{vmid}-disk-{n}", "rootdir", size, vmid, "raw", int(now))
            self.volumes[vol.volid] = vol
        self._save(vol)
        return vol

    def set_files(self, volid: str, files: dict[str, Any]) -> None:
        """Store a mount point volume's contents (no-op for a volume that is gone)."""
        with self._lock:
            vol = self.volumes.get(volid)
            if vol is None or vol.files == files:
                return
            vol.files = files
        self._save(vol)

    def rename_to_owner(self, volid: str, vmid: int) -> Volume:
        """``rename_volume`` (lvmthin): the next free ``vm-<vmid>-disk-N`` on the same storage.

        The volume keeps its size and contents; only its name and owner change.
        """
        with self._lock:
            vol = self.volumes.pop(volid)
            n = 0
            while f"{vol.storage}:vm-{vmid}-disk-{n}" in self.volumes:
                n += 1
            vol.volid = f"{vol.storage}:vm-{vmid}-disk-{n}"
            vol.vmid = vmid
            self.volumes[vol.volid] = vol
        self._file(volid).unlink(missing_ok=True)
        self._save(vol)
        return vol

    def add(self, vol: Volume) -> None:
        """Register an existing volume (e.g. a new backup archive)."""
        with self._lock:
            self.volumes[vol.volid] = vol
        self._save(vol)

    def resize(self, volid: str, size: int) -> None:
        """Set a volume's size in bytes."""
        with self._lock:
            vol = self.volumes[volid]
            vol.size = size
        self._save(vol)

    def free(self, volid: str) -> None:
        """Delete a volume (and its archive file for backups)."""
        with self._lock:
            vol = self.volumes.pop(volid, None)
        if vol is not None and vol.content == "backup":
            (self.dump_dir() / volid.rsplit("/", maxsplit=1)[-1]).unlink(missing_ok=True)
        self._file(volid).unlink(missing_ok=True)

    def owned_by(self, vmid: int) -> list[Volume]:
        """Disk volumes (not backups) owned by ``vmid``."""
        with self._lock:
            return [
                v
                for v in self.volumes.values()
                if v.vmid == vmid and v.content in ("rootdir", "images")
            ]

    def list(
        self, storage: str, content: str | None = None, vmid: int | None = None
    ) -> list[Volume]:
        """Volumes on ``storage``, optionally filtered by content types and owner."""
        kinds = set(content.split(",")) if content else None
        with self._lock:
            vols = [v for v in self.volumes.values() if v.storage == storage]
        if kinds is not None:
            vols = [v for v in vols if v.content in kinds]
        if vmid is not None:
            vols = [v for v in vols if v.vmid == vmid]
        return sorted(vols, key=lambda v: v.volid)

    def status(self, storage: str) -> dict[str, Any]:
        """``GET /nodes/{node}/storage`` item with usage from the registry."""
        sdef = STORAGES[storage]
        used = sum(v.size for v in self.list(storage))
        return {
            "storage": sdef.storage,
            "type": sdef.type,
            "content": ",".join(sdef.content),
            "total": sdef.total,
            "used": min(used, sdef.total),
            "avail": max(sdef.total - used, 0),
            "active": 1,
            "enabled": 1,
            "shared": 0,
            "used_fraction": round(min(used, sdef.total) / sdef.total, 6),
        }
