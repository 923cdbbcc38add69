"""The one classifier from proxmoxer/requests errors into the error tree, and the retry policies.

``classify`` is the only place that reads PVE's error text. PVE answers most refusals with HTTP
500 and the ``die`` text as the reason phrase (pve-manager ``PVE/HTTPServer.pm``
``rest_handler``), so transient and permanent 500s are told apart by message; everything above
this module decides by type. Three tenacity policies follow design §2.8:

* **dispatch** — a request that returns a UPID: retried only on errors that prove it was *not*
  applied (lock timeouts and locked CTs before the worker forks, 502/503, refused
  connections). A lost answer is never re-sent blindly here: it may have started a task; the
  engine (``reconcile.apply.Applier.dispatch``) looks for the task and its effect first.
* **call** — a synchronous request (config PUT, reads): lock errors and transient network
  errors are retried a bounded number of times; a lost answer only if the call is idempotent.
  A read (GET) answered with a 5xx we do not recognise is ``ReadFailedError``: transient.
* **poll** — a task's status until a deadline (see ``tasks.wait_for_task``).

``classify_command`` does the same for the node shell's ``pct``/``vzdump`` stderr, which
carries the very same ``die`` texts as the API (the CLI runs the same Perl code).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests
import tenacity
import urllib3.exceptions
from proxmoxer.core import AuthenticationError, ResourceException

from felhom_provider.errors import (
    AlreadyExistsError,
    AuthError,
    ConnectionLostError,
    FelhomError,
    GuestCommandError,
    GuestLockedError,
    LockTimeoutError,
    NotFoundError,
    NotRunningError,
    ParameterError,
    PermanentPveError,
    PermissionDeniedError,
    PveError,
    ReadFailedError,
    TransientPveError,
)

# Tools.pm lock_file_full; restore prefixes "unable to restore CT N - ", so search, not match.
_LOCK_TIMEOUT_RE = re.compile(r"can't lock file '[^']*' - got timeout")
# AbstractConfig check_lock: "CT is locked (backup)"; QEMU says "VM is locked (...)".
_LOCKED_RE = re.compile(r"\b(?:CT|VM) is locked \((?P<lock>[^)]*)\)")
# LXC.pm create_vm: "CT 123 already exists on node 'pve'"; nextid: "VM N already exists".
_EXISTS_RE = re.compile(r"already exists")
# "Configuration file 'nodes/pve/lxc/123.conf' does not exist", "no such task", ...
_MISSING_RE = re.compile(r"does not exist|no such (?:task|volume|file)")
# pve-container API/LXC.pm vm_stop and friends: "CT 123 not running".
_NOT_RUNNING_RE = re.compile(r"\b(?:CT|VM) \d+ not running")
# RPCEnvironment.pm check/check_any: "Permission check failed (/vms/123, VM.Allocate|VM.Audit)".
_PERM_RE = re.compile(r"Permission check failed \((?P<path>/[^,)]*), (?P<privs>[^)]+)\)")

# AnyEvent::HTTP pseudo statuses pveproxy uses when proxying fails: 595 is "errors during
# connection establishment" (nothing was sent); 596..599 may happen after the request left.
_NOT_SENT_STATUSES = frozenset({502, 503, 595})
_MAYBE_SENT_STATUSES = frozenset({504, 596, 597, 598, 599})


def classify(exc: BaseException, *, method: str = "", path: str = "") -> FelhomError:
    """Turn an error raised by proxmoxer/requests into the project's error tree.

    ``method`` and ``path`` name the request (a path, never a URL with credentials). The PVE
    message, HTTP status, method and path are carried on the result; the token secret never is
    (it only travels in the Authorization header, which no exception renders).
    """
    if isinstance(exc, FelhomError):
        return exc
    where = f"{method} {path}".strip()
    ctx: dict[str, Any] = {"method": method or None, "path": path or None}
    if isinstance(exc, ResourceException):
        return _classify_http(exc, where, ctx)
    if isinstance(exc, requests.exceptions.SSLError):
        # Chain validation or fingerprint pin failed: an identity problem, never retried.
        return AuthError(f"TLS verification failed for {where}: {_first_line(exc)}", **ctx)
    if isinstance(exc, requests.exceptions.ConnectTimeout) or _never_connected(exc):
        return TransientPveError(f"PVE unreachable for {where}: {_first_line(exc)}", **ctx)
    if isinstance(exc, requests.exceptions.RequestException):
        # Read timeouts, resets and disconnects after the request was written: it may have run.
        return ConnectionLostError(f"connection lost during {where}: {_first_line(exc)}", **ctx)
    if isinstance(exc, AuthenticationError):
        return AuthError(f"PVE authentication failed: {_first_line(exc)}", **ctx)
    return PveError(f"unexpected error during {where}: {type(exc).__name__}: {exc}", **ctx)


def _classify_http(exc: ResourceException, where: str, ctx: dict[str, Any]) -> FelhomError:
    status = int(exc.status_code)
    # proxmoxer puts the reason phrase (PVE's first message line) in .content.
    pve_msg = str(exc.content or exc.status_message or "").strip()
    errors = _errors_map(exc.errors)
    detail = pve_msg
    if errors:
        detail += " (" + "; ".join(f"{k}: {v}" for k, v in sorted(errors.items())) + ")"
    message = f"PVE {status} on {where}: {detail}"
    kw: dict[str, Any] = {"status": status, "pve_message": pve_msg, **ctx}
    if status == 401:
        return AuthError(message, **kw)
    if status == 403:
        kw.pop("status")
        return PermissionDeniedError(message, missing=_denied_privileges(pve_msg), **kw)
    if status == 400:
        if any(_EXISTS_RE.search(v) for v in errors.values()):
            return AlreadyExistsError(message, **kw)
        return ParameterError(message, errors=errors, **kw)
    if status == 404:
        return NotFoundError(message, **kw)
    if status in _NOT_SENT_STATUSES:
        return TransientPveError(message, **kw)
    if status in _MAYBE_SENT_STATUSES:
        return ConnectionLostError(message, **kw)
    if status == 500:
        if _LOCK_TIMEOUT_RE.search(pve_msg):
            return LockTimeoutError(message, **kw)
        locked = _LOCKED_RE.search(pve_msg)
        if locked:
            return GuestLockedError(message, lock=locked["lock"], **kw)
        if _EXISTS_RE.search(pve_msg):
            return AlreadyExistsError(message, **kw)
        if _MISSING_RE.search(pve_msg):
            return NotFoundError(message, **kw)
        if _NOT_RUNNING_RE.search(pve_msg):
            return NotRunningError(message, **kw)
    if status >= 500 and ctx.get("method") == "GET":
        # A read changes nothing: an unexplained 5xx (a worker restarting, a storage hiccup)
        # is worth reading again within the step's deadline.
        return ReadFailedError(message, **kw)
    # 501 (unknown path/method) and every other 4xx/5xx: PVE refused for good.
    return PermanentPveError(message, **kw)


def classify_command(exc: GuestCommandError) -> FelhomError:
    """Classify a failed node-shell command (``pct create``, ``vzdump``, ``pct exec``).

    The CLI tools run the same code as the API, so their stderr carries PVE's ``die`` texts:
    a taken VMID is ``AlreadyExistsError``, lock contention ``LockTimeoutError`` or
    ``GuestLockedError`` (transient), a stopped CT ``NotRunningError``. Anything else comes
    back as ``exc`` itself. The result names the command's stderr as its PVE message.
    """
    text = exc.stderr.strip()
    kw: dict[str, Any] = {"pve_message": text.splitlines()[-1] if text else "", **exc.context}
    kw.pop("exit_code", None)
    result: FelhomError = exc
    if _LOCK_TIMEOUT_RE.search(text):
        result = LockTimeoutError(exc.message, **kw)
    elif (locked := _LOCKED_RE.search(text)) is not None:
        result = GuestLockedError(exc.message, lock=locked["lock"], **kw)
    elif _EXISTS_RE.search(text):
        result = AlreadyExistsError(exc.message, **kw)
    elif _NOT_RUNNING_RE.search(text):
        result = NotRunningError(exc.message, **kw)
    if result is not exc:
        result.__cause__ = exc
    return result


def _errors_map(errors: Any) -> dict[str, str]:
    if isinstance(errors, Mapping):
        return {str(k): str(v).strip() for k, v in errors.items()}
    return {}


def _denied_privileges(pve_msg: str) -> list[str]:
    m = _PERM_RE.search(pve_msg)
    if not m:
        return []
    return [f"{priv.strip()} on {m['path']}" for priv in m["privs"].split("|")]


def _never_connected(exc: BaseException) -> bool:
    """True when the TCP connection was never opened, so the request cannot have been sent."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        cur = stack.pop()
        if cur is None or id(cur) in seen:
            continue
        seen.add(id(cur))
        if isinstance(cur, urllib3.exceptions.NewConnectionError | ConnectionRefusedError):
            return True
        if isinstance(cur, urllib3.exceptions.MaxRetryError):
            stack.append(cur.reason)
        stack.extend(a for a in cur.args if isinstance(a, BaseException))
        stack.extend([cur.__cause__, cur.__context__])
    return False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


# --- policies -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetrySettings:
    """Bounds of the dispatch and call policies: attempts and exponential backoff with jitter.

    Lock waits on PVE are 10 s server-side already; a few client retries spaced out with
    jitter let parallel bring-ups on one node interleave instead of colliding again.
    """

    attempts: int = 6
    initial_s: float = 0.5
    max_s: float = 8.0
    multiplier: float = 2.0
    jitter_s: float = 0.5


def dispatch_retryable(exc: BaseException) -> bool:
    """Errors that prove a UPID-returning request was not applied (no worker was forked)."""
    return isinstance(exc, TransientPveError) and not isinstance(exc, ConnectionLostError)


def not_yet(exc: BaseException) -> bool:
    """For a waiting loop (task status, lease, host keys): a failed read means "not yet".

    Transient PVE errors (including reads answered 5xx and lost answers: a read is safe to
    repeat) and socket errors (a guest's sshd not listening yet) are polled through until the
    loop's own deadline; permanent errors end the wait.
    """
    return isinstance(exc, TransientPveError | OSError)


def call_retryable(idempotent: bool) -> Callable[[BaseException], bool]:
    """Predicate of the call policy: a lost answer is re-sent only for idempotent calls."""

    def predicate(exc: BaseException) -> bool:
        if isinstance(exc, ConnectionLostError):
            return idempotent
        return isinstance(exc, TransientPveError)

    return predicate


def _wait(
    settings: RetrySettings, rng: random.Random
) -> Callable[[tenacity.RetryCallState], float]:
    base = tenacity.wait_exponential(
        multiplier=settings.initial_s, max=settings.max_s, exp_base=settings.multiplier
    )

    def wait(state: tenacity.RetryCallState) -> float:
        # Own RNG (not tenacity's wait_random on the global one) so tests can seed it.
        jitter = rng.uniform(0, settings.jitter_s) if settings.jitter_s > 0 else 0.0
        return float(base(state)) + jitter

    return wait


def dispatch_policy(
    settings: RetrySettings, sleep: Callable[[float], None], rng: random.Random | None = None
) -> tenacity.Retrying:
    """Retrying for requests that start a task: never re-sends once a UPID may exist."""
    return tenacity.Retrying(
        retry=tenacity.retry_if_exception(dispatch_retryable),
        stop=tenacity.stop_after_attempt(settings.attempts),
        wait=_wait(settings, rng or random.Random()),
        sleep=sleep,
        reraise=True,
    )


def call_policy(
    settings: RetrySettings,
    sleep: Callable[[float], None],
    *,
    idempotent: bool,
    rng: random.Random | None = None,
) -> tenacity.Retrying:
    """Retrying for synchronous calls: lock errors and transient network errors, bounded."""
    return tenacity.Retrying(
        retry=tenacity.retry_if_exception(call_retryable(idempotent)),
        stop=tenacity.stop_after_attempt(settings.attempts),
        wait=_wait(settings, rng or random.Random()),
        sleep=sleep,
        reraise=True,
    )


@dataclass(frozen=True)
class PollBackoff:
    """Task poll intervals: ``initial_s`` growing by ``factor`` up to ``max_s``.

    Short tasks (start, a small restore) end within a second, so early polls are quick; long
    ones are polled every ``max_s``: one status read a second per task. A restore holds its
    node's restore slot until its end is seen, so a slower poll leaves the slot idle for up to
    the interval; the restore slots also bound how many restores are polled at once.
    """

    initial_s: float = 0.25
    factor: float = 1.5
    max_s: float = 1.0

    def delay(self, attempt: int) -> float:
        """The pause after poll number ``attempt`` (1-based)."""
        return float(min(self.max_s, self.initial_s * self.factor ** (attempt - 1)))


def poll_policy(
    *,
    deadline: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    backoff: PollBackoff,
    still_running: Callable[[Any], bool],
) -> tenacity.Retrying:
    """Retrying that re-polls while ``still_running(result)`` or a transient error, until
    ``deadline`` on ``clock``. Ends with ``tenacity.RetryError`` when the deadline passes.

    tenacity's own ``stop_after_delay`` reads ``time.monotonic``; the deadline here uses the
    injected clock so tests with a fake clock run instantly.
    """

    def stop(_: tenacity.RetryCallState) -> bool:
        return clock() >= deadline

    def wait(state: tenacity.RetryCallState) -> float:
        return max(0.0, min(backoff.delay(state.attempt_number), deadline - clock()))

    return tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(TransientPveError)
        | tenacity.retry_if_result(still_running),
        stop=stop,
        wait=wait,
        sleep=sleep,
        reraise=False,
    )
