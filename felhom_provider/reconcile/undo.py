"""Typed undo operations: what a journal entry does to compensate the step it records.

Each kind is a small frozen dataclass with ``apply(applier, owner=..., ours=...)`` that
carries the compensation out and returns a phrase of what was done (raising when it could
not be done), and ``describe()`` for the leftovers a ``RollbackError`` lists. ``UNDO_KINDS``
maps the JSON name (``"op"``) of each kind to its class, so a journal serialised into the
resource state or an error's output reads back into the same objects.

The JSON form is the flat dict the engines wrote before these classes existed (``{"op":
"destroy", "node": "pve", "vmid": 123, "owner": "..."}``), so older serialised journals
still read back.
"""

from __future__ import annotations

import contextlib
import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

from felhom_provider.errors import NotFoundError, NotRunningError, PveError
from felhom_provider.reconcile.apply import Applier
from felhom_provider.reconcile.roll_plan import data_mounts, holder_owner


@dataclass(frozen=True)
class Undo(ABC):
    """One compensation. Subclasses set ``op`` (their JSON name) and implement ``apply``."""

    op: ClassVar[str]
    #: Python field name -> JSON key, for keys that are not identifiers (``from``/``to``).
    json_keys: ClassVar[dict[str, str]] = {}

    @abstractmethod
    def apply(self, applier: Applier, *, owner: str, ours: bool) -> str:
        """Carry the undo out; returns what was done, raises when it could not be done.

        ``owner`` is the run's ownership marker; ``ours`` is True when the entry's task was
        dispatched by this run (a UPID came back or was found), which lets a destroy trust
        a CT our own restore made but whose config never got the marker.
        """

    def describe(self) -> str:
        """The phrase a ``RollbackError`` lists when this undo did not run or failed."""
        args = ", ".join(f"{k}={v}" for k, v in sorted(self.to_dict().items()) if k != "op")
        return f"{self.op}({args})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form: ``op`` plus the fields (``None`` fields left out)."""
        data: dict[str, Any] = {"op": self.op}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is not None:
                data[self.json_keys.get(f.name, f.name)] = value
        return data


@dataclass(frozen=True)
class DestroyCT(Undo):
    """Stop if running, destroy with purge, wait, verify gone; never someone else's CT."""

    op: ClassVar[str] = "destroy"
    vmid: int
    node: str | None = None
    owner: str | None = None

    def apply(self, applier: Applier, *, owner: str, ours: bool) -> str:
        """Destroy the CT when it carries our marker (or none, when ``ours``)."""
        gone = applier.destroy(self.vmid, self.owner or owner, trust_unmarked=ours)
        return f"destroyed CT {self.vmid}" if gone else f"CT {self.vmid} was already gone"

    def describe(self) -> str:
        """``CT 123 on node pve (destroy not done)``."""
        return f"CT {self.vmid} on node {self.node or '?'} ({self.op} not done)"


@dataclass(frozen=True)
class StopCT(Undo):
    """Stop the CT if it runs; a stopped or vanished CT already meets the goal."""

    op: ClassVar[str] = "stop"
    vmid: int
    node: str | None = None

    def apply(self, applier: Applier, *, owner: str, ours: bool) -> str:
        """Stop the CT when PVE says it runs."""
        client, vmid = applier.client, self.vmid
        try:
            status = client.status(vmid).get("status")
        except NotFoundError:
            return f"CT {vmid} already gone"
        if status == "running":
            # NotRunningError: stopped meanwhile, the undo's goal is reached.
            with contextlib.suppress(NotRunningError):
                applier.run("vzstop", vmid, f"stop CT {vmid}", lambda: client.stop(vmid))
        return f"stopped CT {vmid}"

    def describe(self) -> str:
        """``CT 123 on node pve (stop not done)``."""
        return f"CT {self.vmid} on node {self.node or '?'} ({self.op} not done)"


@dataclass(frozen=True)
class StartCT(Undo):
    """Start the CT again (the undo of a stop); a running CT already meets the goal."""

    op: ClassVar[str] = "start"
    vmid: int

    def apply(self, applier: Applier, *, owner: str, ours: bool) -> str:
        """Start the CT unless PVE says it runs."""
        client, vmid = applier.client, self.vmid
        if client.status(vmid).get("status") != "running":
            applier.run("vzstart", vmid, f"start CT {vmid}", lambda: client.start(vmid))
        return f"started CT {vmid}"


@dataclass(frozen=True)
class DeleteVolume(Undo):
    """Delete a volume (an archive this run wrote); a missing one counts as deleted."""

    op: ClassVar[str] = "delete_volume"
    storage: str
    volid: str
    protected: bool = False  # a protected archive: clear the flag first

    def apply(self, applier: Applier, *, owner: str, ours: bool) -> str:
        """``DELETE /storage/{storage}/content/{volid}`` and wait for its task, if any."""
        # Only the golden and roll clients have delete_volume; the guest Protocol does not.
        delete = getattr(applier.client, "delete_volume")  # noqa: B009
        try:
            if self.protected:
                # A protected backup's imgdel task fails (pve-storage Plugin.pm free_image).
                unprotect = getattr(applier.client, "set_volume_protected")  # noqa: B009
                unprotect(self.storage, self.volid, False)
            upid = delete(self.storage, self.volid)
            if upid is not None:
                applier.wait(upid, f"delete {self.volid}")
        except NotFoundError:
            return f"volume {self.volid} was already gone"
        return f"deleted volume {self.volid}"

    def describe(self) -> str:
        """``volume local:backup/x (delete_volume not done)``."""
        return f"volume {self.volid} ({self.op} not done)"


@dataclass(frozen=True)
class SetProtection(Undo):
    """Put a CT's ``protection`` flag back to ``on``."""

    op: ClassVar[str] = "protection"
    vmid: int
    on: bool

    def apply(self, applier: Applier, *, owner: str, ours: bool) -> str:
        """``PUT protection``."""
        applier.client.put_config(self.vmid, protection=int(self.on))
        return f"protection {'on' if self.on else 'off'} for CT {self.vmid}"


@dataclass(frozen=True)
class MoveVolume(Undo):
    """Hand a volume back from CT ``src`` to CT ``dst`` under the same key (no copy)."""

    op: ClassVar[str] = "move-volume"
    json_keys: ClassVar[dict[str, str]] = {"src": "from", "dst": "to"}
    src: int
    dst: int
    volume: str

    def apply(self, applier: Applier, *, owner: str, ours: bool) -> str:
        """``POST move_volume`` with ``target-vmid`` (the roll client's ``move_volume_to``)."""
        # Only the roll client can reassign volumes; the guest Protocol cannot.
        move = getattr(applier.client, "move_volume_to")  # noqa: B009
        what = f"move {self.volume} CT {self.src} -> CT {self.dst}"
        applier.run("move_volume", self.src, what, lambda: move(self.src, self.volume, self.dst))
        return f"moved {self.volume} back to CT {self.dst}"


@dataclass(frozen=True)
class DestroyHolder(Undo):
    """Clear the protection of a roll's holder CT and destroy it (holder marker only)."""

    op: ClassVar[str] = "destroy-holder"
    vmid: int

    def apply(self, applier: Applier, *, owner: str, ours: bool) -> str:
        """Unprotect, then destroy under the holder's own marker (never the guest's)."""
        marker = holder_owner(owner)
        try:
            config = applier.client.get_config(self.vmid)
        except NotFoundError:
            return f"holder CT {self.vmid} was gone"
        # A holder that still holds data volumes is the only copy of the customer's data
        # (mid-roll): destroying it with purge would lose them, so it is refused.
        held = [m.key for m in data_mounts(config)] + [k for k in config if k.startswith("unused")]
        if held:
            raise PveError(
                f"holder CT {self.vmid} still holds {held}; not destroyed", vmid=self.vmid
            )
        applier.client.put_config(self.vmid, protection=0)
        gone = applier.destroy(self.vmid, marker, trust_unmarked=ours)
        return f"destroyed holder CT {self.vmid}" if gone else f"holder CT {self.vmid} was gone"


#: JSON name -> class, for :func:`undo_from_dict`.
UNDO_KINDS: dict[str, type[Undo]] = {
    kind.op: kind
    for kind in (DestroyCT, StopCT, StartCT, DeleteVolume, SetProtection, MoveVolume, DestroyHolder)
}


def undo_from_dict(data: dict[str, Any]) -> Undo:
    """Inverse of :meth:`Undo.to_dict`; raises ``ValueError`` for an unknown ``op``."""
    op = data.get("op")
    kind = UNDO_KINDS.get(str(op))
    if kind is None:
        raise ValueError(f"unknown undo op {op!r}")
    by_key = {kind.json_keys.get(f.name, f.name): f.name for f in dataclasses.fields(kind)}
    unknown = sorted(set(data) - set(by_key) - {"op"})
    if unknown:
        raise ValueError(f"undo op {op!r}: unknown fields {unknown}")
    return kind(**{by_key[k]: v for k, v in data.items() if k != "op"})
