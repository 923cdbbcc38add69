"""One acceptance run from start to clean-up, whatever ends it.

:func:`running_suite` first sweeps what earlier, interrupted runs of the suite left (any run's
marker, inside the VMID range only), picks free VMIDs in the range, creates the run's stack,
and on the way out (success, failure, Ctrl-C, SIGTERM or SIGHUP) waits for the killed CLI's
plugins to end and sweeps this run's CTs and archives. A SIGKILL leaves things behind by
nature; the next run's start-up sweep removes them.
"""

from __future__ import annotations

import secrets
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from felhom_provider.pve import PveClient
from tests.acceptance.guard import STACK_PREFIX, Guard, free_vmids
from tests.acceptance.stack import Plan, SuiteStack
from tests.acceptance.target import EXTRA_VMIDS, Target
from tests.e2e.pulumi_cli import processes_in

Say = Callable[[str], None]
_HANDLED = (signal.SIGTERM, signal.SIGHUP)


@dataclass
class Suite:
    """What a scenario gets: the target, a token client, this run's guard and stack, and
    ``facts`` that earlier scenarios recorded for later ones."""

    target: Target
    client: PveClient
    guard: Guard
    stack: SuiteStack
    say: Say
    facts: dict[str, Any] = field(default_factory=dict)


def startup_sweep(target: Target, client: PveClient, say: Say) -> list[str]:
    """Remove leftovers of earlier runs: every CT and archive with any run's marker in the
    range. Returns what was removed."""
    guard = Guard(client, target.vmids, target.archive_storage, None, target.task_timeout_s, say)
    removed = guard.sweep()
    say(f"start-up sweep: removed {removed or 'nothing'}")
    return removed


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextmanager
def _signals_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP interrupt like Ctrl-C, so the clean-up below runs for them too."""
    previous = {sig: signal.signal(sig, _interrupt) for sig in _HANDLED}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _ignore_signals() -> None:
    # The clean-up itself must not be cut short by a second TERM/HUP.
    for sig in _HANDLED:
        signal.signal(sig, signal.SIG_IGN)


def _wait_for_plugins(workdir: Path, timeout_s: float = 60.0) -> None:
    """A killed ``pulumi`` leaves its provider plugin running for a few seconds (its
    watchdog notices the engine is gone); sweeping before it stops would race it."""
    deadline = time.monotonic() + timeout_s
    while processes_in(workdir) and time.monotonic() < deadline:
        time.sleep(0.2)


@contextmanager
def running_suite(base: Path, target: Target, say: Say = print) -> Iterator[Suite]:
    """Sweep, set up the run's stack, yield the suite, and always sweep this run's objects."""
    client = PveClient(target.endpoint)
    with _signals_interrupt():
        startup_sweep(target, client, say)
        name = f"{STACK_PREFIX}{secrets.token_hex(4)}"
        vmids = free_vmids(client, target.vmids, target.guests + EXTRA_VMIDS)
        plan = Plan(golden=vmids[0], guests=tuple(vmids[1:-1]), spare=vmids[-1])
        guard = Guard(
            client, target.vmids, target.archive_storage, name, target.task_timeout_s, say
        )
        say(f"run {name}: golden build CT {plan.golden}, guests {plan.guests}, spare {plan.spare}")
        stack: SuiteStack | None = None
        try:
            stack = SuiteStack.create(base, target, plan, guard, name)
            yield Suite(target, client, guard, stack, say)
        finally:
            _ignore_signals()
            if stack is not None:
                _wait_for_plugins(stack.project.workdir)
            left = guard.sweep()
            say(f"clean-up of {name}: removed {left or 'nothing'}")
