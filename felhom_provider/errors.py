"""The project's one error tree.

Every failure the provider raises is a ``FelhomError``. The PVE client layer turns
proxmoxer/requests errors into these classes in one place (``felhom_provider.pve.retry``),
so that callers decide on retry and rollback by type, never by parsing text.

Messages name the resource, the step and PVE's own message; they never contain secrets
(``felhom_provider.secrets.mask`` is applied to anything that may carry one).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class JournalView(Protocol):
    """What an error exposes of the journal of the run it failed
    (``felhom_provider.reconcile.journal.Journal``; a Protocol so this module stays a leaf of
    the import graph)."""

    def steps(self) -> list[str]:
        """The step names in order."""
        ...

    def leftovers(self) -> list[str]:
        """What a failed or missing undo left behind."""
        ...

    def render(self) -> str:
        """A short multi-line summary."""
        ...

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        ...


class FelhomError(Exception):
    """Base of every error this project raises.

    ``context`` carries structured facts (guest name, VMID, node, step, UPID) that are
    rendered after the message, so logs and Pulumi's error output show them. ``journal`` is
    the journal of the engine run that failed (set by the engine when it gives up, ``None``
    for errors raised outside a run).
    """

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.context: dict[str, Any] = {k: v for k, v in context.items() if v is not None}
        self.journal: JournalView | None = None

    def __str__(self) -> str:
        if not self.context:
            return self.message
        facts = ", ".join(f"{k}={v}" for k, v in sorted(self.context.items()))
        return f"{self.message} [{facts}]"


class ConfigError(FelhomError):
    """Stack configuration or resource inputs are invalid; names the offending key."""

    def __init__(self, field: str, problem: str, **context: Any) -> None:
        super().__init__(f"{field}: {problem}", field=field, **context)
        self.field = field
        self.problem = problem


class PveError(FelhomError):
    """An error answered by (or on the way to) the PVE API."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        pve_message: str | None = None,
        **context: Any,
    ) -> None:
        super().__init__(message, status=status, **context)
        self.status = status
        self.pve_message = pve_message or message


class TransientPveError(PveError):
    """Worth retrying: lock contention, dropped connections, timeouts, 502/503/504."""


class LockTimeoutError(TransientPveError):
    """PVE could not take the CT config lock within its 10 s wait (``got timeout``)."""


class GuestLockedError(TransientPveError):
    """The CT carries a ``lock:`` entry (``CT is locked (<lock>)``)."""


class ReadFailedError(TransientPveError):
    """A read (GET) answered 5xx with no reason we recognise as permanent.

    A read changes nothing, so it is repeated within the step's deadline; a fault that really
    is permanent still surfaces once the bounded retries run out.
    """


class ConnectionLostError(TransientPveError):
    """The HTTP connection dropped or timed out; the request may or may not have run."""


class DispatchLostError(ConnectionLostError):
    """The answer to a task-starting request (one that returns a UPID) was lost.

    The task may be running on the node. Never re-send the request: look for the task
    (``PveClient.recover_dispatch`` reads the node's task list for ``task_type`` + ``vmid``
    started at or after ``sent_at``, an epoch time from the client's clock).
    """

    def __init__(
        self,
        message: str,
        *,
        task_type: str,
        vmid: int | None,
        sent_at: float,
        **context: Any,
    ) -> None:
        super().__init__(message, task_type=task_type, vmid=vmid, **context)
        self.task_type = task_type
        self.vmid = vmid
        self.sent_at = sent_at


class PermanentPveError(PveError):
    """PVE refused the request for good (bad parameter, missing object, conflict)."""


class ParameterError(PermanentPveError, ValueError):
    """PVE rejected parameters (400); ``errors`` maps each offending field to PVE's reason."""

    def __init__(
        self, message: str, *, errors: Mapping[str, str] | None = None, **context: Any
    ) -> None:
        super().__init__(message, **context)
        self.errors: dict[str, str] = dict(errors or {})


class AuthError(PermanentPveError):
    """Bad credentials (401) or a TLS/identity failure."""


class PermissionDeniedError(PermanentPveError):
    """The token lacks privileges (403), or a preflight found missing privileges."""

    def __init__(self, message: str, *, missing: list[str] | None = None, **context: Any) -> None:
        super().__init__(message, status=403, **context)
        self.missing = list(missing or [])


class NotFoundError(PermanentPveError):
    """The object does not exist (404 or PVE's "does not exist" 500s)."""


class NotRunningError(PermanentPveError):
    """The CT is not running (``CT <vmid> not running``), e.g. a stop raced a stop."""


class AlreadyExistsError(PermanentPveError):
    """The VMID is taken (``CT <vmid> already exists on node '<node>'``)."""


class TaskFailedError(PveError):
    """A PVE task ended with an exitstatus other than ``OK`` or ``WARNINGS: n``."""

    def __init__(self, message: str, *, upid: str, exitstatus: str, **context: Any) -> None:
        super().__init__(message, upid=upid, exitstatus=exitstatus, **context)
        self.upid = upid
        self.exitstatus = exitstatus


class TaskTimeoutError(TransientPveError):
    """A PVE task was still running when our deadline passed."""

    def __init__(self, message: str, *, upid: str, **context: Any) -> None:
        super().__init__(message, upid=upid, **context)
        self.upid = upid


class GuestCommandError(FelhomError):
    """A command inside a guest (``pct exec``) or on the node shell failed."""

    def __init__(self, message: str, *, exit_code: int, stderr: str = "", **context: Any) -> None:
        super().__init__(message, exit_code=exit_code, **context)
        self.exit_code = exit_code
        self.stderr = stderr


class CommandTimeoutError(GuestCommandError):
    """A node or guest command did not finish within its timeout; its channel was closed."""

    def __init__(self, message: str, *, timeout_s: float, stderr: str = "", **context: Any):
        super().__init__(message, exit_code=-1, stderr=stderr, timeout_s=timeout_s, **context)
        self.timeout_s = timeout_s


class HostKeyError(FelhomError):
    """An SSH host key was unknown, changed, or never appeared on a guest."""


class VerificationError(FelhomError):
    """A read-back did not match what was asked (MAC, hostname, sizes, archive features)."""


class OwnershipError(FelhomError):
    """A guest exists but does not carry this resource's ownership marker; never touched."""


class RollbackError(FelhomError):
    """Compensation failed; ``leftovers`` names exactly what is left behind."""

    def __init__(self, message: str, *, leftovers: list[str], cause: BaseException, **context: Any):
        super().__init__(message, **context)
        self.leftovers = leftovers
        self.cause = cause
