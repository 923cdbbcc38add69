"""The pools of ``user.cfg`` as data: members, comments, persistence (no permission rules).

Source: pve-access-control ``AccessControl.pm`` (``add_vm_to_pool``, ``remove_vm_access``),
``RPCEnvironment.pm`` (``check_pool_exist``). The ``/pools`` API rules that read and change
these records, with their privilege checks, are in ``pools``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from felhom_provider.sim.errors import PermissionCheckError
from felhom_provider.sim.persist import atomic_write_json, read_json


@dataclass
class Pool:
    """One pool: comment, member VMIDs and storage ids."""

    comment: str | None = None
    vms: set[int] = field(default_factory=set)
    storage: set[str] = field(default_factory=set)


class Pools:
    """The pools of ``user.cfg``; persisted to ``pools.json``."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self.lock = threading.RLock()
        self.pools: dict[str, Pool] = {}

    def load(self) -> None:
        """Read the pools from disk (none on first start)."""
        for poolid, raw in dict(read_json(self._path, {})).items():
            self.pools[poolid] = Pool(raw.get("comment"), set(raw["vms"]), set(raw["storage"]))

    def save(self) -> None:
        """Write the pools atomically."""
        atomic_write_json(
            self._path,
            {
                k: {"comment": p.comment, "vms": sorted(p.vms), "storage": sorted(p.storage)}
                for k, p in sorted(self.pools.items())
            },
        )

    def pool_of(self, vmid: int) -> str | None:
        """The pool a VMID belongs to."""
        with self.lock:
            return next((k for k, p in self.pools.items() if vmid in p.vms), None)

    def check_exists(self, poolid: str) -> None:
        """``check_pool_exist``: a 403 when the pool is unknown."""
        if poolid not in self.pools:
            raise PermissionCheckError(f"pool '{poolid}' does not exist")

    def add_vm(self, vmid: int, poolid: str) -> None:
        """``add_vm_to_pool`` (a no-op for an unknown pool); leaves any other pool."""
        with self.lock:
            if poolid not in self.pools:
                return
            for pool in self.pools.values():
                pool.vms.discard(vmid)
            self.pools[poolid].vms.add(vmid)
            self.save()

    def remove_vm(self, vmid: int) -> None:
        """``remove_vm_access``'s pool part: the VMID leaves its pool."""
        with self.lock:
            if any(vmid in p.vms for p in self.pools.values()):
                for pool in self.pools.values():
                    pool.vms.discard(vmid)
                self.save()
