"""One fleet command: plan the waves, run each stack within the bounds, collect the report.

The runner owns no lock of its own and no state besides the report: stack locking is
Pulumi's (``workspace``), ordering and bounds are the scheduler's (``waves``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pulumi import automation as auto

from felhom_provider.fleet.progress import Progress
from felhom_provider.fleet.report import (
    FAILED,
    LOCKED,
    SKIPPED,
    SUCCEEDED,
    FleetReport,
    StackResult,
)
from felhom_provider.fleet.stacks import StackInfo
from felhom_provider.fleet.start_gate import StartGate, default_limit, starts_work
from felhom_provider.fleet.waves import Bounds, Scheduler, plan_waves
from felhom_provider.fleet.workspace import (
    FleetEnv,
    Outcome,
    StackLockedError,
    prepare_backend,
    run_operation,
    with_lock_policy,
)

ERROR_LINES = 12


@dataclass(frozen=True)
class RunOptions:
    """How a fleet command runs."""

    operation: str
    bounds: Bounds = field(default_factory=Bounds)
    canary: int = 0
    wave_size: int = 0
    pulumi_parallel: int | None = None  # `pulumi up --parallel` inside each stack
    on_locked: str = "wait"
    lock_wait_s: float = 900.0
    start_parallel: int = 0  # stacks in their start-up at once (0: two per CPU)


def short_error(exc: BaseException) -> str:
    """The useful tail of a failure: Pulumi's error lines, not the whole log."""
    if isinstance(exc, auto.errors.CommandError):
        stderr = getattr(exc, "stderr", "") or ""
        stdout = getattr(exc, "stdout", "") or ""
        text = stderr.strip() or stdout.strip() or str(exc)
        lines = [ln for ln in text.splitlines() if ln.strip()]
        errors = [ln for ln in lines if "error" in ln.lower()]
        picked = errors or lines
        return "\n".join(picked[-ERROR_LINES:])
    return f"{type(exc).__name__}: {exc}"


class FleetRunner:
    """Runs ``options.operation`` over ``stacks`` and fills a ``FleetReport``."""

    def __init__(self, fleet: FleetEnv, options: RunOptions, progress: Progress) -> None:
        self.fleet = fleet
        self.options = options
        self.progress = progress
        self.report = FleetReport(operation=options.operation, backend=fleet.backend_label)
        self.gate = StartGate(options.start_parallel or default_limit())

    def _on_event(self, stack: str, started: Callable[[], None]) -> auto.OnEvent:
        def handle(event: auto.EngineEvent) -> None:
            if event.res_outputs_event is not None:
                self.progress.resource_done(stack)
            if starts_work(event):
                started()

        return handle

    def _attempt(self, stack: StackInfo) -> Outcome:
        """One try of the operation on ``stack``, its start-up inside the start gate."""
        with self.gate.starting() as started:
            return run_operation(
                self.fleet,
                stack,
                self.options.operation,
                # Pulumi's default (4 x CPUs) would hold a stack below its restore bound.
                parallel=self.options.pulumi_parallel or stack.width,
                on_line=lambda line: self.progress.line(stack.name, line),
                on_event=self._on_event(stack.name, started),
            )

    def run_one(self, stack: StackInfo, wave: int) -> bool:
        """Run the operation on one stack; True when it succeeded (or was skipped as locked)."""
        self.progress.state(stack.name, "running")
        started = time.monotonic()
        result = StackResult(stack=stack.name, node=stack.node, wave=wave, result=FAILED)
        try:
            outcome = with_lock_policy(
                lambda: self._attempt(stack),
                on_locked=self.options.on_locked,
                lock_wait_s=self.options.lock_wait_s,
                on_wait=lambda locked: self.progress.state(
                    stack.name, "waiting", f"locked by {locked.holder}; waiting"
                ),
            )
            result.result = SUCCEEDED
            result.changes = outcome.changes
            result.outputs = outcome.outputs
        except StackLockedError as locked:
            result.result = LOCKED
            result.error = f"stack {stack.name} is locked by {locked.holder}; skipped"
        except Exception as exc:  # one stack's failure is reported, never raised
            result.error = short_error(exc)
        result.duration_s = time.monotonic() - started
        self.report.add(result)
        self.progress.state(stack.name, result.result, (result.error or "").split("\n")[0])
        # A stack another runner holds is not a failure of this rollout.
        return result.result in (SUCCEEDED, LOCKED)

    def skip(self, stack: StackInfo, wave: int, reason: str) -> None:
        """Record a stack the threshold kept from starting."""
        self.report.add(
            StackResult(stack=stack.name, node=stack.node, wave=wave, result=SKIPPED, error=reason)
        )
        self.progress.state(stack.name, SKIPPED, reason)

    def run(self, stacks: Sequence[StackInfo]) -> FleetReport:
        """Run the command over ``stacks`` in waves; returns the report."""
        waves = plan_waves(stacks, self.options.canary, self.options.wave_size)
        for index, wave in enumerate(waves):
            for stack in wave:
                self.progress.add(stack.name, stack.node, index)
        prepare_backend(self.fleet)
        Scheduler(self.options.bounds, self.run_one, self.skip).run(waves)
        self.report.finished_at = time.time()
        return self.report
