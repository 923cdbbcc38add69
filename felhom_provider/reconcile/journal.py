"""The bring-up journal: every applied step with its undo, for compensating rollback.

Each mutating step appends a ``JournalEntry(step, action, undo, result)`` *before* it is sent
(status ``pending``) and marks it ``done`` once PVE answered, so a step whose answer was lost
(dropped connection) still has its undo recorded. On failure the engine walks the entries in
reverse and runs each undo (``reconcile.undo``: one typed class per kind); the journal is
serialisable so it can be attached to the raised error (``FelhomError.journal``) and shown to
the operator (design §2.10).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from felhom_provider.reconcile.undo import Undo, undo_from_dict


class JournalStatus(StrEnum):
    """Entry lifecycle; the value is the JSON form."""

    #: Sent, answer not (yet) seen: the effect is unknown, so its undo stays due.
    PENDING = "pending"
    #: Applied.
    DONE = "done"
    #: PVE refused it: nothing to undo.
    FAILED = "failed"
    #: Compensated.
    UNDONE = "undone"
    #: Compensation failed: something is left behind.
    UNDO_FAILED = "undo-failed"


#: Statuses whose undo is still due (``undo_order``, ``leftovers``).
OUTSTANDING = frozenset({JournalStatus.PENDING, JournalStatus.DONE, JournalStatus.UNDO_FAILED})


@dataclass
class JournalEntry:
    """One step: what was done (``action``), how to reverse it (``undo``), what came back.

    ``undo`` is ``None`` for steps with no effect to compensate (reads, waits) or one of the
    typed ``reconcile.undo`` kinds, e.g. ``DestroyCT(vmid=123, node="pve")``.
    """

    step: str
    action: dict[str, Any]
    undo: Undo | None = None
    result: Any = None
    status: JournalStatus = JournalStatus.PENDING
    error: str | None = None

    @property
    def outstanding(self) -> bool:
        """True when this entry has an undo that is still due."""
        return self.undo is not None and self.status in OUTSTANDING

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "step": self.step,
            "action": dict(self.action),
            "undo": self.undo.to_dict() if self.undo is not None else None,
            "result": self.result,
            "status": self.status.value,
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JournalEntry:
        """Inverse of :meth:`to_dict`."""
        text = str(data.get("status", JournalStatus.PENDING.value))
        try:
            status = JournalStatus(text)
        except ValueError:
            raise ValueError(f"unknown journal status {text!r}") from None
        undo = data.get("undo")
        return cls(
            step=str(data["step"]),
            action=dict(data.get("action") or {}),
            undo=undo_from_dict(dict(undo)) if undo is not None else None,
            result=data.get("result"),
            status=status,
            error=data.get("error"),
        )


@dataclass
class Journal:
    """An ordered, serialisable list of :class:`JournalEntry` for one guest or build."""

    subject: str
    entries: list[JournalEntry] = field(default_factory=list)

    def begin(self, step: str, action: dict[str, Any], undo: Undo | None = None) -> JournalEntry:
        """Record a step about to be applied; returns the entry to complete later."""
        entry = JournalEntry(step=step, action=dict(action), undo=undo)
        self.entries.append(entry)
        return entry

    def record(
        self,
        step: str,
        action: dict[str, Any],
        result: Any = None,
        undo: Undo | None = None,
    ) -> JournalEntry:
        """Record a step that already completed (observations, no-ops with a reason)."""
        entry = self.begin(step, action, undo)
        entry.result = result
        entry.status = JournalStatus.DONE
        return entry

    @staticmethod
    def done(entry: JournalEntry, result: Any = None) -> None:
        """Mark ``entry`` applied with PVE's answer."""
        entry.status = JournalStatus.DONE
        entry.result = result

    @staticmethod
    def failed(entry: JournalEntry, error: BaseException, *, keep_undo: bool = False) -> None:
        """Mark ``entry`` refused. ``keep_undo`` keeps the undo when the effect is unknown."""
        entry.status = JournalStatus.PENDING if keep_undo else JournalStatus.FAILED
        entry.error = str(error)
        if not keep_undo:
            entry.undo = None

    def undo_order(self) -> Iterator[JournalEntry]:
        """Entries to compensate, newest first: those with an undo not yet undone."""
        for entry in reversed(self.entries):
            if entry.outstanding:
                yield entry

    def leftovers(self) -> list[str]:
        """Human-readable list of effects whose undo failed or never ran."""
        return [
            e.undo.describe()
            + (f": {e.error}" if e.status is JournalStatus.UNDO_FAILED and e.error else "")
            for e in self.entries
            if e.undo is not None and e.outstanding
        ]

    def steps(self) -> list[str]:
        """The step names in order (handy in tests and logs)."""
        return [e.step for e in self.entries]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {"subject": self.subject, "entries": [e.to_dict() for e in self.entries]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Journal:
        """Inverse of :meth:`to_dict`."""
        return cls(
            subject=str(data["subject"]),
            entries=[JournalEntry.from_dict(e) for e in data.get("entries") or ()],
        )

    def to_json(self) -> str:
        """Compact JSON text."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Journal:
        """Inverse of :meth:`to_json`."""
        return cls.from_dict(json.loads(text))

    def render(self) -> str:
        """A short multi-line summary for error messages and logs."""
        lines = []
        for i, e in enumerate(self.entries, 1):
            tail = f" ({e.error})" if e.error else ""
            lines.append(f"{i:2d}. {e.step} [{e.status.value}]{tail}")
        return "\n".join(lines)
