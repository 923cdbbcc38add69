"""The bring-up journal: every applied step with its undo, for compensating rollback.

Each mutating step appends a ``JournalEntry(step, action, undo, result)`` *before* it is sent
(status ``pending``) and marks it ``done`` once PVE answered, so a step whose answer was lost
(dropped connection) still has its undo recorded. On failure the engine walks the entries in
reverse and runs each undo; the journal is serialisable so it can be attached to the raised
error and shown to the operator (design §2.10).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

#: Entry lifecycle. ``pending``: sent, answer not (yet) seen; ``done``: applied;
#: ``failed``: PVE refused it (nothing to undo unless ``undo`` says otherwise);
#: ``undone``: compensated; ``undo-failed``: compensation failed, something is left.
STATUSES = ("pending", "done", "failed", "undone", "undo-failed")


@dataclass
class JournalEntry:
    """One step: what was done (``action``), how to reverse it (``undo``), what came back.

    ``undo`` is ``None`` for steps with no effect to compensate (reads, waits) or a small
    JSON-safe dict such as ``{"op": "destroy", "node": "pve", "vmid": 123}``.
    """

    step: str
    action: dict[str, Any]
    undo: dict[str, Any] | None = None
    result: Any = None
    status: str = "pending"
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "step": self.step,
            "action": dict(self.action),
            "undo": dict(self.undo) if self.undo is not None else None,
            "result": self.result,
            "status": self.status,
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JournalEntry:
        """Inverse of :meth:`to_dict`."""
        status = str(data.get("status", "pending"))
        if status not in STATUSES:
            raise ValueError(f"unknown journal status {status!r}")
        undo = data.get("undo")
        return cls(
            step=str(data["step"]),
            action=dict(data.get("action") or {}),
            undo=dict(undo) if undo is not None else None,
            result=data.get("result"),
            status=status,
            error=data.get("error"),
        )


@dataclass
class Journal:
    """An ordered, serialisable list of :class:`JournalEntry` for one guest or build."""

    subject: str
    entries: list[JournalEntry] = field(default_factory=list)

    def begin(
        self, step: str, action: dict[str, Any], undo: dict[str, Any] | None = None
    ) -> JournalEntry:
        """Record a step about to be applied; returns the entry to complete later."""
        entry = JournalEntry(step=step, action=dict(action), undo=undo)
        self.entries.append(entry)
        return entry

    def record(
        self,
        step: str,
        action: dict[str, Any],
        result: Any = None,
        undo: dict[str, Any] | None = None,
    ) -> JournalEntry:
        """Record a step that already completed (observations, no-ops with a reason)."""
        entry = self.begin(step, action, undo)
        entry.result = result
        entry.status = "done"
        return entry

    @staticmethod
    def done(entry: JournalEntry, result: Any = None) -> None:
        """Mark ``entry`` applied with PVE's answer."""
        entry.status = "done"
        entry.result = result

    @staticmethod
    def failed(entry: JournalEntry, error: BaseException, *, keep_undo: bool = False) -> None:
        """Mark ``entry`` refused. ``keep_undo`` keeps the undo when the effect is unknown."""
        entry.status = "failed" if not keep_undo else "pending"
        entry.error = str(error)
        if not keep_undo:
            entry.undo = None

    def undo_order(self) -> Iterator[JournalEntry]:
        """Entries to compensate, newest first: those with an undo not yet undone."""
        for entry in reversed(self.entries):
            if entry.undo is not None and entry.status in ("pending", "done", "undo-failed"):
                yield entry

    def leftovers(self) -> list[str]:
        """Human-readable list of effects whose undo failed or never ran."""
        return [
            _describe(e.undo) + (f": {e.error}" if e.status == "undo-failed" and e.error else "")
            for e in self.entries
            if e.undo is not None and e.status in ("pending", "done", "undo-failed")
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
            lines.append(f"{i:2d}. {e.step} [{e.status}]{tail}")
        return "\n".join(lines)


def _describe(undo: dict[str, Any]) -> str:
    """Turn an undo dict into the phrase a RollbackError lists, e.g. ``CT 123 on pve``."""
    op = undo.get("op", "?")
    if op in ("destroy", "stop") and "vmid" in undo:
        return f"CT {undo['vmid']} on node {undo.get('node', '?')} ({op} not done)"
    if op == "delete_volume" and "volid" in undo:
        return f"volume {undo['volid']} ({op} not done)"
    args = ", ".join(f"{k}={v}" for k, v in sorted(undo.items()) if k != "op")
    return f"{op}({args})"
