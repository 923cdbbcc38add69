"""Live progress per stack: a ``rich`` live table on a terminal, one line per event otherwise.

Each stack row shows its wave, state (queued, running, waiting for a lock, done), how many
resources the engine finished, the last line Pulumi printed for it (our provider's step lines
come through here) and its elapsed time. When output is not a terminal (CI logs, tests) the
same transitions are printed as plain lines, so logs stay readable.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from types import TracebackType

from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from felhom_provider.fleet.report import STYLE

MAX_LINE = 90


@dataclass
class Row:
    """One stack's live state."""

    stack: str
    node: str
    wave: int
    state: str = "queued"
    done: int = 0
    last: str = ""
    started: float | None = None
    finished: float | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def elapsed(self) -> str:
        if self.started is None:
            return ""
        return f"{(self.finished or time.monotonic()) - self.started:.0f}s"


class Progress:
    """Thread-safe progress display for one fleet command."""

    def __init__(self, console: Console, title: str, *, live: bool | None = None) -> None:
        self.console = console
        self.title = title
        self.live_mode = console.is_terminal if live is None else live
        self.rows: dict[str, Row] = {}
        self._lock = threading.Lock()
        self._live: Live | None = None

    def __enter__(self) -> Progress:
        if self.live_mode:
            # Rich re-renders from the rows 4 times a second; updates only change the rows.
            self._live = Live(
                console=self.console,
                get_renderable=self._render,
                refresh_per_second=4,
                transient=False,
            )
            self._live.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.refresh()
            self._live.__exit__(exc_type, exc, tb)
            self._live = None

    def _render(self) -> Group:
        table = Table(title=self.title, expand=False)
        for column in ("stack", "node", "wave", "state", "done", "time", "last line"):
            table.add_column(column, no_wrap=column != "last line", overflow="ellipsis")
        with self._lock:
            rows = list(self.rows.values())
        for r in rows:
            style = STYLE.get(r.state, "cyan" if r.state == "running" else "")
            table.add_row(
                r.stack,
                r.node,
                str(r.wave),
                f"[{style}]{r.state}[/]" if style else r.state,
                str(r.done),
                r.elapsed(),
                escape(r.last[:MAX_LINE]),  # Pulumi's lines are text, not rich markup
            )
        return Group(table)

    def add(self, stack: str, node: str, wave: int) -> None:
        """A stack is queued in ``wave``."""
        with self._lock:
            self.rows[stack] = Row(stack, node, wave)

    def state(self, stack: str, state: str, note: str = "") -> None:
        """A stack changed state (``running``, ``waiting``, a final result)."""
        with self._lock:
            row = self.rows[stack]
            row.state = state
            if state == "running" and row.started is None:
                row.started = time.monotonic()
            if state not in ("running", "waiting", "queued"):
                row.finished = time.monotonic()
            if note:
                row.last = note
        if not self.live_mode:
            self.console.print(
                f"[{stack}] {state}{': ' + note if note else ''}", highlight=False, markup=False
            )

    def line(self, stack: str, text: str) -> None:
        """A line of Pulumi output for ``stack`` (kept as the row's last line)."""
        text = text.strip()
        if not text:
            return
        with self._lock:
            self.rows[stack].last = text

    def resource_done(self, stack: str) -> None:
        """The engine finished one resource step of ``stack``."""
        with self._lock:
            self.rows[stack].done += 1
