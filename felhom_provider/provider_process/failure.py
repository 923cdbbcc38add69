"""One readable message per failed resource in ``pulumi up``, without a Python traceback.

The dynamic provider server (``pulumi.dynamic.__main__``) turns any exception of a CRUD call
into ``context.abort(UNKNOWN, traceback.format_exc())``, so every failure reached the
operator as a 60-line traceback. Inside that server process (and only there) we give its
module a ``traceback`` whose ``format_exc`` renders the error with ``explain``: the resource,
the step, PVE's own words, what was rolled back and what to do. ``FELHOM_DEBUG=1`` in the
environment of ``pulumi up`` restores the full traceback (secrets still masked).
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from felhom_provider.errors import (
    AuthError,
    ConfigError,
    FelhomError,
    GuestCommandError,
    PermissionDeniedError,
    PveError,
    RollbackError,
    TaskFailedError,
    TransientPveError,
)

DEBUG_VARIABLE = "FELHOM_DEBUG"
_SERVER_MODULE = "pulumi.dynamic.__main__"


def debug_enabled() -> bool:
    """True when ``FELHOM_DEBUG`` asks for Python tracebacks."""
    return os.environ.get(DEBUG_VARIABLE, "").strip().lower() in ("1", "true", "yes")


def _hint(exc: BaseException) -> str:
    if isinstance(exc, RollbackError):
        return "remove what is left (listed above) by hand, then run `pulumi up` again"
    if isinstance(exc, PermissionDeniedError):
        missing = ", ".join(exc.missing)
        return f"grant the API token {missing or 'the privileges PVE names'}, then run again"
    if isinstance(exc, AuthError):
        return "check felhom:pve (tokenId, TLS pin) and felhom:pveTokenSecret"
    if isinstance(exc, TaskFailedError):
        return f"read the task's log on the node (`pvenode task log {exc.upid}`), fix, run again"
    if isinstance(exc, TransientPveError):
        return "PVE stayed busy or unreachable past the retry budget: run `pulumi up` again"
    if isinstance(exc, ConfigError):
        return f"fix {exc.field} in the stack config, then run again"
    if isinstance(exc, GuestCommandError):
        return "fix the cause the command's output names, then run `pulumi up` again"
    if isinstance(exc, FelhomError):
        return "follow the message above, then run `pulumi up` again"
    return f"a provider bug: report it with the output of `{DEBUG_VARIABLE}=1 pulumi up`"


def explain(exc: BaseException) -> str:
    """The one message for a failed CRUD call: what failed where, PVE's words, rollback, hint."""
    if not isinstance(exc, FelhomError):
        return f"internal error: {type(exc).__name__}: {exc}\n  to do: {_hint(exc)}"
    cause = exc.cause if isinstance(exc, RollbackError) else exc
    ctx = dict(getattr(cause, "context", {}) or {})
    ctx.update(exc.context)
    who = ctx.pop("guest", None) or ctx.pop("name", None)
    step = ctx.pop("step", None)
    head = f"{who}: " if who else ""
    head += f"step {step!r} failed: " if step else "failed: "
    lines = [head + (cause.message if isinstance(cause, FelhomError) else str(cause))]
    pve = getattr(cause, "pve_message", None)
    if isinstance(cause, PveError) and pve and pve not in lines[0]:
        lines.append(f"  PVE said: {pve}")
    rolled_back = ctx.pop("rolled_back", None)
    if rolled_back:
        lines.append(f"  rolled back: {rolled_back}")
    if isinstance(exc, RollbackError):
        lines.append("  left behind: " + "; ".join(exc.leftovers))
    facts = {k: v for k, v in ctx.items() if k in ("vmid", "node", "upid")}
    if facts:
        lines.append("  " + ", ".join(f"{k}={v}" for k, v in sorted(facts.items())))
    lines.append(f"  to do: {_hint(exc)}")
    lines.append(f"  ({DEBUG_VARIABLE}=1 shows the Python traceback)")
    return "\n".join(lines)


def render(mask: Callable[[str], str]) -> str:
    """What the server sends for the exception being handled now (secrets masked)."""
    exc = sys.exc_info()[1]
    if exc is None or debug_enabled():
        return mask(traceback.format_exc())
    return mask(explain(exc))


def install_clean_errors(mask: Callable[[str], str]) -> bool:
    """Make the provider server report failures with ``explain``; only inside that server.

    Returns False (and changes nothing) in any other process: tests, the program.
    """
    main: Any = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if getattr(spec, "name", "") != _SERVER_MODULE or not hasattr(main, "traceback"):
        return False
    main.traceback = SimpleNamespace(format_exc=lambda *_a, **_k: render(mask))
    return True
