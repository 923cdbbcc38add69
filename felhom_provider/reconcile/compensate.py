"""Compensating rollback: undo a journal in reverse and say exactly what is left.

Undo ops are small dicts written by the engines when a step is begun:
``{"op": "destroy", "vmid", "node", "owner"}`` (stop if running, destroy with purge, wait,
verify gone), ``{"op": "stop", "vmid", "node"}`` and ``{"op": "delete_volume", "storage",
"volid"}`` (with ``"protected": True`` the protection is cleared first). Destroy never
touches a CT carrying someone else's marker.
"""

from __future__ import annotations

import contextlib
from typing import Any

from felhom_provider.errors import FelhomError, NotFoundError, NotRunningError, RollbackError
from felhom_provider.reconcile.apply import Applier
from felhom_provider.reconcile.journal import Journal, JournalEntry
from felhom_provider.reconcile.ports import Progress


def _ran_our_task(entry: JournalEntry) -> bool:
    """True when the entry's task was dispatched by us (a UPID came back or was found)."""
    return isinstance(entry.result, dict) and bool(entry.result.get("upid"))


def undo_one(applier: Applier, entry: JournalEntry, owner: str) -> str:
    """Run one undo; returns what was done, raises when it could not be done."""
    undo: dict[str, Any] = entry.undo or {}
    op = undo.get("op")
    client = applier.client
    if op == "destroy":
        vmid = int(undo["vmid"])
        gone = applier.destroy(
            vmid, str(undo.get("owner", owner)), trust_unmarked=_ran_our_task(entry)
        )
        return f"destroyed CT {vmid}" if gone else f"CT {vmid} was already gone"
    if op == "stop":
        vmid = int(undo["vmid"])
        try:
            status = str(client.status(vmid).get("status", ""))
        except NotFoundError:
            return f"CT {vmid} already gone"
        if status == "running":
            # NotRunningError: stopped meanwhile, the undo's goal is reached.
            with contextlib.suppress(NotRunningError):
                applier.run("vzstop", vmid, f"stop CT {vmid}", lambda: client.stop(vmid))
        return f"stopped CT {vmid}"
    if op == "delete_volume":
        volid = str(undo["volid"])
        try:
            if undo.get("protected"):
                # A protected archive's imgdel task fails (pve-storage Plugin.pm free_image).
                unprotect = getattr(client, "set_volume_protected")  # noqa: B009
                unprotect(str(undo["storage"]), volid, False)
            upid = getattr(client, "delete_volume")(str(undo["storage"]), volid)  # noqa: B009
            if upid is not None:
                applier.wait(upid, f"delete {volid}")
        except NotFoundError:
            return f"volume {volid} was already gone"
        return f"deleted volume {volid}"
    raise ValueError(f"unknown undo op {op!r}")


def compensate(
    journal: Journal,
    applier: Applier,
    *,
    owner: str,
    name: str,
    step: str,
    exc: BaseException,
    say: Progress,
) -> None:
    """Undo ``journal`` newest first after ``exc`` failed ``step``.

    On success ``exc`` is annotated (``guest``, ``step``, ``rolled_back`` in its context and
    ``exc.journal``) and the caller re-raises it. When an undo fails, raises
    ``RollbackError`` whose ``leftovers`` name exactly what is left behind.
    """
    if isinstance(exc, FelhomError):
        exc.context.setdefault("guest", name)
        exc.context.setdefault("step", step)
    say(f"failed at {step}: {exc}; rolling back")
    done: list[str] = []
    for entry in journal.undo_order():
        try:
            what = undo_one(applier, entry, owner)
        except Exception as uerr:  # every undo is attempted, whatever the first one did
            entry.status = "undo-failed"
            entry.error = str(uerr)
            say(f"undo of {entry.step} failed: {uerr}")
            continue
        entry.status = "undone"
        done.append(what)
        say(f"rolled back {entry.step}: {what}")
    exc.journal = journal  # type: ignore[attr-defined]
    leftovers = journal.leftovers()
    if leftovers:
        err = RollbackError(
            f"{name}: {step} failed ({exc}) and rollback left: " + "; ".join(leftovers),
            leftovers=leftovers,
            cause=exc,
            guest=name,
            step=step,
        )
        err.journal = journal  # type: ignore[attr-defined]
        raise err from exc
    if isinstance(exc, FelhomError) and done:
        exc.context["rolled_back"] = "; ".join(done)
