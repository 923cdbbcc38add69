"""An Automation API stack that skips the SDK's reads after an operation the runner never uses.

After every ``up``, ``refresh`` and ``destroy`` the Python SDK reads the stack's outputs
(``pulumi stack output --json`` twice: masked and with secrets) and its last history entry
(``pulumi stack history --show-secrets --page-size 1``) to fill the result object
(``pulumi/automation/_stack.py``, ``Stack.up``: ``self.outputs()`` then ``self.info()``).
Those are three more CLI runs per stack, two of which decrypt the stack's secrets; measured
here they cost about 0.65 s of CPU per stack, a third of a no-op ``up``. The fleet runner
needs neither: it reports the change counts, and the engine's own summary event, which the
operation streams anyway, carries exactly those (``SummaryEvent.resource_changes``).

``LeanStack`` answers ``outputs()`` and ``info()`` from that event while one of its own
operations runs, and like any ``Stack`` outside them, so ``felhom fleet outputs`` still reads
the real outputs. If a later SDK stops calling them, nothing changes but the saving.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from pulumi import automation as auto

# ``Stack.select``/``create_or_select`` build a plain ``Stack`` (not ``cls``), so a subclass
# is made with the constructor and its init mode, which the package does not re-export.
from pulumi.automation._stack import StackInitMode


class LeanStack(auto.Stack):
    """A ``Stack`` whose operation results take their summary from the event stream."""

    _lean_state: tuple[str, datetime, list[auto.SummaryEvent]] | None = None

    @classmethod
    def open(cls, name: str, workspace: auto.Workspace, *, create: bool) -> LeanStack:
        """Select stack ``name`` in ``workspace``'s backend, creating it first if ``create``."""
        mode = StackInitMode.CREATE_OR_SELECT if create else StackInitMode.SELECT
        return cls(name, workspace, mode)

    @contextmanager
    def _operation(self, kind: str, kwargs: dict[str, Any]) -> Iterator[None]:
        events: list[auto.SummaryEvent] = []
        given: Callable[[auto.EngineEvent], None] | None = kwargs.get("on_event")

        def on_event(event: auto.EngineEvent) -> None:
            if event.summary_event is not None:
                events.append(event.summary_event)
            if given is not None:
                given(event)

        kwargs["on_event"] = on_event
        started = datetime.now(UTC)
        self._lean_state = (kind, started, events)
        try:
            yield
        finally:
            self._lean_state = None

    def up(self, **kwargs: Any) -> auto.UpResult:  # type: ignore[override]
        """``Stack.up`` without the follow-up output and history reads."""
        with self._operation("update", kwargs):
            return super().up(**kwargs)

    def refresh(self, **kwargs: Any) -> auto.RefreshResult:  # type: ignore[override]
        """``Stack.refresh`` without the follow-up history read."""
        with self._operation("refresh", kwargs):
            return super().refresh(**kwargs)

    def destroy(self, **kwargs: Any) -> auto.DestroyResult:  # type: ignore[override]
        """``Stack.destroy`` without the follow-up history read."""
        with self._operation("destroy", kwargs):
            return super().destroy(**kwargs)

    def outputs(self) -> auto.OutputMap:
        """The stack's outputs; empty inside a lean operation (the runner does not use them)."""
        if self._lean_state is not None:
            return {}
        return super().outputs()

    def info(self, show_secrets: bool = True) -> auto.UpdateSummary | None:
        """The last operation's summary: from its summary event inside a lean operation."""
        if self._lean_state is None:
            return super().info(show_secrets)
        kind, started, events = self._lean_state
        if not events:
            # No summary event arrived (an older CLI): ask the backend as the SDK would.
            return super().info(show_secrets)
        return auto.UpdateSummary(
            kind=kind,
            start_time=started,
            end_time=datetime.now(UTC),
            message="",
            environment={},
            config={},
            result="succeeded",  # a failed operation raised before the SDK asks
            resource_changes=events[-1].resource_changes,
        )
