"""Compensating rollback: undo a journal in reverse and say exactly what is left.

The undos are the typed kinds of ``reconcile.undo`` the engines record when a step is
begun (destroy a CT, stop it, delete a volume, ...); each carries itself out with
``apply``. Destroy never touches a CT carrying someone else's marker.
"""

from __future__ import annotations

from felhom_provider.errors import FelhomError, RollbackError
from felhom_provider.reconcile.apply import Applier
from felhom_provider.reconcile.journal import Journal, JournalEntry, JournalStatus
from felhom_provider.reconcile.ports import Progress


def _ran_our_task(entry: JournalEntry) -> bool:
    """True when the entry's task was dispatched by us (a UPID came back or was found)."""
    return isinstance(entry.result, dict) and bool(entry.result.get("upid"))


def undo_one(applier: Applier, entry: JournalEntry, owner: str) -> str:
    """Run one entry's undo; returns what was done, raises when it could not be done."""
    if entry.undo is None:
        raise ValueError(f"journal entry {entry.step!r} has no undo")
    return entry.undo.apply(applier, owner=owner, ours=_ran_our_task(entry))


def attach(exc: BaseException, journal: Journal) -> None:
    """Carry ``journal`` on ``exc``: the typed ``journal`` of a ``FelhomError``, a note
    (``add_note``, shown in the traceback) on any other exception."""
    if isinstance(exc, FelhomError):
        exc.journal = journal
    else:
        exc.add_note(f"journal of {journal.subject}:\n{journal.render()}")


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
            entry.status = JournalStatus.UNDO_FAILED
            entry.error = str(uerr)
            say(f"undo of {entry.step} failed: {uerr}")
            continue
        entry.status = JournalStatus.UNDONE
        done.append(what)
        say(f"rolled back {entry.step}: {what}")
    attach(exc, journal)
    leftovers = journal.leftovers()
    if leftovers:
        err = RollbackError(
            f"{name}: {step} failed ({exc}) and rollback left: " + "; ".join(leftovers),
            leftovers=leftovers,
            cause=exc,
            guest=name,
            step=step,
        )
        err.journal = journal
        raise err from exc
    if isinstance(exc, FelhomError) and done:
        exc.context["rolled_back"] = "; ".join(done)
