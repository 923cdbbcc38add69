"""Per-stack results, the summary table and the JSON report.

The JSON report is the interface for CI and other tooling: one object per stack with its
``result`` (``succeeded``, ``failed``, ``locked`` when another runner held the stack and this one
skipped it, ``skipped`` when the failure threshold stopped the rollout), ``changes`` (Pulumi's
counts per operation: ``create``, ``update``, ``same``, ...), ``duration_s`` and ``error``.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

SUCCEEDED = "succeeded"
FAILED = "failed"
LOCKED = "locked"
SKIPPED = "skipped"


@dataclass
class StackResult:
    """What happened to one stack."""

    stack: str
    node: str
    wave: int
    result: str
    changes: dict[str, int] = field(default_factory=dict)
    duration_s: float = 0.0
    error: str | None = None
    outputs: dict[str, Any] | None = None


@dataclass
class FleetReport:
    """Every stack's result for one command, in the order the stacks finished."""

    operation: str
    backend: str
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    results: list[StackResult] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, result: StackResult) -> None:
        """Record one stack's result (thread-safe)."""
        with self._lock:
            self.results.append(result)

    def by_result(self, result: str) -> list[str]:
        """Names of the stacks that ended with ``result``."""
        return [r.stack for r in self.results if r.result == result]

    @property
    def ok(self) -> bool:
        """True when every selected stack succeeded."""
        return all(r.result == SUCCEEDED for r in self.results)

    def to_json(self) -> dict[str, Any]:
        """The report as a JSON-ready document."""
        stacks = []
        for r in sorted(self.results, key=lambda r: (r.wave, r.stack)):
            item = asdict(r)
            item["duration_s"] = round(r.duration_s, 3)
            if item["outputs"] is None:
                del item["outputs"]
            stacks.append(item)
        counts = {k: len(self.by_result(k)) for k in (SUCCEEDED, FAILED, LOCKED, SKIPPED)}
        return {
            "operation": self.operation,
            "backend": self.backend,
            "startedAt": self.started_at,
            "durationS": round((self.finished_at or time.time()) - self.started_at, 3),
            "counts": counts,
            "stacks": stacks,
        }

    def write(self, path: Path) -> None:
        """Write the JSON report to ``path``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n")


def changes_text(changes: dict[str, int]) -> str:
    """``create 2, same 1`` (or ``-``)."""
    return ", ".join(f"{op} {n}" for op, n in sorted(changes.items()) if n) or "-"


STYLE = {SUCCEEDED: "green", FAILED: "bold red", LOCKED: "yellow", SKIPPED: "dim"}


def summary_table(report: FleetReport) -> Table:
    """The summary table printed at the end of a command."""
    table = Table(title=f"felhom fleet {report.operation}: {len(report.results)} stack(s)")
    for column in ("stack", "node", "wave", "result", "changes", "time", "error"):
        table.add_column(column, overflow="fold")
    for r in sorted(report.results, key=lambda r: (r.wave, r.stack)):
        table.add_row(
            r.stack,
            r.node,
            str(r.wave),
            f"[{STYLE.get(r.result, '')}]{r.result}[/]",
            changes_text(r.changes),
            f"{r.duration_s:.1f}s",
            # Pulumi's errors contain [brackets]: text, not rich markup.
            escape(r.error.splitlines()[0]) if r.error else "",
        )
    return table


def print_summary(report: FleetReport, console: Console) -> None:
    """The table and one line naming failed, locked and skipped stacks."""
    console.print(summary_table(report))
    for result in (FAILED, LOCKED, SKIPPED):
        stacks = report.by_result(result)
        if stacks:
            console.print(f"{result}: {', '.join(sorted(stacks))}")
