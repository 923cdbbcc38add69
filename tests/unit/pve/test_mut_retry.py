"""The classifier and the retry policies at their edges: what each error carries, every status
boundary, the exact retry counts and back-off of each policy (mutation-testing gaps)."""

from __future__ import annotations

import random
from typing import Any

import pytest
import requests
import tenacity
import urllib3.exceptions
from proxmoxer.core import AuthenticationError, ResourceException

from felhom_provider.errors import (
    AlreadyExistsError,
    AuthError,
    ConnectionLostError,
    GuestCommandError,
    GuestLockedError,
    LockTimeoutError,
    NotFoundError,
    NotRunningError,
    PermanentPveError,
    PermissionDeniedError,
    PveError,
    ReadFailedError,
    TransientPveError,
)
from felhom_provider.pve.retry import (
    PollBackoff,
    RetrySettings,
    call_policy,
    classify,
    classify_command,
    dispatch_policy,
    not_yet,
    poll_policy,
)

from .fakes import FakeClock

PATH = "/nodes/pve/lxc/123/config"


def _http(status: int, reason: str, errors: Any = None) -> ResourceException:
    return ResourceException(status, "Status", reason, errors=errors)


# --- classify: HTTP answers ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "method", "cls"),
    [
        # An unexplained 5xx is a failed read for GET only; 4xx never is.
        (500, "GET", ReadFailedError),
        (500, "PUT", PermanentPveError),
        (501, "GET", ReadFailedError),
        (501, "POST", PermanentPveError),
        (499, "GET", PermanentPveError),
        (418, "GET", PermanentPveError),
        (505, "GET", ReadFailedError),
    ],
)
def test_unexplained_status_by_method(status: int, method: str, cls: type) -> None:
    err = classify(_http(status, "something odd"), method=method, path=PATH)
    assert type(err) is cls
    assert err.context["method"] == method and err.context["path"] == PATH


@pytest.mark.parametrize(
    ("reason", "cls"),
    [
        ("CT 123 not running", NotRunningError),
        ("VM 9000 not running", NotRunningError),
        ("CT not running", PermanentPveError),  # no VMID: not PVE's text
        ("no such task", NotFoundError),
        ("no such volume 'local:backup/x'", NotFoundError),
        ("no such file", NotFoundError),
        ("no such user", PermanentPveError),
        ("can't lock file '/run/lock/lxc/pve-config-1.lock' - got timeout", LockTimeoutError),
        (
            "can't lock file '/run/lock/lxc/pve-config-1.lock' - permission denied",
            PermanentPveError,
        ),
        ("CT is locked ()", GuestLockedError),
        ("CT is locked", PermanentPveError),
    ],
)
def test_500_texts(reason: str, cls: type) -> None:
    assert type(classify(_http(500, reason), method="POST", path=PATH)) is cls


def test_http_error_carries_status_message_and_sorted_field_errors() -> None:
    errors = {"rootfs": " bad size \n", "net0": "invalid"}
    err = classify(_http(400, "  Parameter verification failed.\n", errors), method="POST")
    assert err.message == (
        "PVE 400 on POST: Parameter verification failed. (net0: invalid; rootfs: bad size)"
    )
    assert isinstance(err, PveError)
    assert err.pve_message == "Parameter verification failed."
    assert err.errors == {"rootfs": "bad size", "net0": "invalid"}  # type: ignore[attr-defined]
    assert err.context == {"status": 400, "method": "POST"}  # no path: not carried


def test_errors_that_are_not_a_mapping_are_ignored() -> None:
    err = classify(_http(400, "Parameter verification failed.", ["x"]), method="POST", path=PATH)
    assert err.message == f"PVE 400 on POST {PATH}: Parameter verification failed."
    assert err.errors == {}  # type: ignore[attr-defined]


def test_reason_falls_back_to_the_status_message() -> None:
    exc = ResourceException(503, "Service Unavailable", "")
    err = classify(exc, method="GET", path=PATH)
    assert type(err) is TransientPveError
    assert err.pve_message == "Service Unavailable"


def test_already_exists_only_from_a_field_error_text() -> None:
    exists = _http(400, "Parameter verification failed.", {"vmid": "VM 1 already exists"})
    other = _http(400, "Parameter verification failed.", {"vmid": "out of range"})
    assert type(classify(exists)) is AlreadyExistsError
    assert type(classify(other)).__name__ == "ParameterError"


def test_permission_denied_carries_403_and_trimmed_privileges() -> None:
    err = classify(
        _http(403, "Permission check failed (/vms/1, VM.Audit | VM.Console)"), method="GET"
    )
    assert isinstance(err, PermissionDeniedError)
    assert err.status == 403 and err.context["status"] == 403
    assert err.missing == ["VM.Audit on /vms/1", "VM.Console on /vms/1"]


def test_guest_locked_names_the_lock() -> None:
    err = classify(_http(500, "unable to start - VM is locked (rollback)"), method="POST")
    assert isinstance(err, GuestLockedError)
    assert err.context["lock"] == "rollback"


def test_auth_401_is_auth_error() -> None:
    err = classify(_http(401, "authentication failure"), method="GET", path=PATH)
    assert type(err) is AuthError and err.status == 401


# --- classify: transport errors -----------------------------------------------------------


def test_ssl_error_names_the_request_and_the_first_line() -> None:
    err = classify(requests.exceptions.SSLError("pin mismatch\ndetails"), method="GET", path=PATH)
    assert type(err) is AuthError
    assert err.message == f"TLS verification failed for GET {PATH}: pin mismatch"
    assert err.context == {"method": "GET", "path": PATH}


def test_connect_timeout_was_never_sent() -> None:
    err = classify(requests.exceptions.ConnectTimeout("timed out"), method="POST", path=PATH)
    assert type(err) is TransientPveError
    assert err.message == f"PVE unreachable for POST {PATH}: timed out"


def test_empty_error_text_falls_back_to_its_type_name() -> None:
    err = classify(requests.exceptions.ReadTimeout(), method="GET", path=PATH)
    assert type(err) is ConnectionLostError
    assert err.message == f"connection lost during GET {PATH}: ReadTimeout"


@pytest.mark.parametrize(
    "make",
    [
        # requests wraps urllib3's MaxRetryError whose reason is the NewConnectionError.
        lambda: requests.exceptions.ConnectionError(
            urllib3.exceptions.MaxRetryError(
                None,  # type: ignore[arg-type]
                "/x",
                urllib3.exceptions.NewConnectionError(None, "refused"),  # type: ignore[arg-type]
            )
        ),
        lambda: requests.exceptions.ConnectionError(ConnectionRefusedError(111, "refused")),
    ],
)
def test_never_connected_through_wrappers(make: Any) -> None:
    err = classify(make(), method="POST", path=PATH)
    assert type(err) is TransientPveError


def test_never_connected_through_the_cause_chain_and_cycles() -> None:
    exc = requests.exceptions.ConnectionError("wrapped")
    exc.__cause__ = ConnectionRefusedError(111, "refused")
    assert type(classify(exc, method="POST")) is TransientPveError
    loop = requests.exceptions.ConnectionError("loop")
    other = requests.exceptions.ConnectionError("other")
    loop.__context__, other.__context__ = other, loop
    assert type(classify(loop, method="POST")) is ConnectionLostError


def test_other_exceptions_are_plain_pve_errors_naming_their_type() -> None:
    err = classify(KeyError("x"), method="GET", path=PATH)
    assert type(err) is PveError
    assert err.message == f"unexpected error during GET {PATH}: KeyError: 'x'"


# --- classify_command ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stderr", "cls"),
    [
        ("x\ncan't lock file '/run/lock/lxc/pve-config-5.lock' - got timeout\n", LockTimeoutError),
        ("CT is locked (backup)\n", GuestLockedError),
        ("unable to create CT 5 - CT 5 already exists on node 'pve'\n", AlreadyExistsError),
        ("CT 5 not running\n", NotRunningError),
    ],
)
def test_classify_command_reads_the_die_text(stderr: str, cls: type) -> None:
    exc = GuestCommandError("`pct x` exited 255", exit_code=255, stderr=stderr, vmid=5)
    err = classify_command(exc)
    assert type(err) is cls
    assert err.__cause__ is exc
    assert err.message == exc.message
    assert "exit_code" not in err.context and err.context["vmid"] == 5  # not a PVE fact
    assert isinstance(err, PveError) and err.pve_message == stderr.strip().splitlines()[-1]


def test_classify_command_keeps_other_failures_and_the_lock_name() -> None:
    exc = GuestCommandError("failed", exit_code=2, stderr="")
    assert classify_command(exc) is exc and exc.__cause__ is None
    locked = classify_command(GuestCommandError("f", exit_code=2, stderr="VM is locked (mig)"))
    assert locked.context["lock"] == "mig"


# --- policies -----------------------------------------------------------------------------


def test_retry_settings_defaults() -> None:
    assert RetrySettings() == RetrySettings(
        attempts=6, initial_s=0.5, max_s=8.0, multiplier=2.0, jitter_s=0.5
    )
    assert PollBackoff() == PollBackoff(initial_s=0.25, factor=1.5, max_s=1.0)


def _failing(errors: list[BaseException]) -> Any:
    calls: list[int] = []

    def call() -> str:
        calls.append(1)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return "done"

    return call, calls


def test_dispatch_policy_backs_off_exponentially_with_seeded_jitter() -> None:
    settings = RetrySettings(attempts=6, initial_s=0.5, max_s=3.0, multiplier=2.0, jitter_s=0.5)
    sleeps: list[float] = []
    call, calls = _failing([LockTimeoutError("lock")] * 5)
    assert dispatch_policy(settings, sleeps.append, random.Random(7))(call) == "done"
    assert len(calls) == 6
    rng = random.Random(7)
    want = [min(3.0, 0.5 * 2.0**n) + rng.uniform(0, 0.5) for n in range(5)]
    assert sleeps == pytest.approx(want)
    assert all(s > min(3.0, 0.5 * 2.0**n) for n, s in enumerate(sleeps))


def test_no_jitter_when_it_is_zero() -> None:
    settings = RetrySettings(attempts=3, initial_s=1.0, max_s=10.0, multiplier=3.0, jitter_s=0.0)
    sleeps: list[float] = []
    call, _ = _failing([TransientPveError("503")] * 2)
    dispatch_policy(settings, sleeps.append, random.Random(1))(call)
    assert sleeps == [1.0, 3.0]


@pytest.mark.parametrize("attempts", [1, 2, 6])
def test_dispatch_policy_stops_after_exactly_attempts(attempts: int) -> None:
    settings = RetrySettings(attempts=attempts, jitter_s=0.0)
    call, calls = _failing([TransientPveError("503")] * 10)
    with pytest.raises(TransientPveError):
        dispatch_policy(settings, lambda _s: None)(call)
    assert len(calls) == attempts


def test_dispatch_policy_never_resends_a_lost_answer() -> None:
    call, calls = _failing([ConnectionLostError("reset")])
    with pytest.raises(ConnectionLostError):
        dispatch_policy(RetrySettings(), lambda _s: None)(call)
    assert len(calls) == 1


@pytest.mark.parametrize(("idempotent", "tries"), [(True, 2), (False, 1)])
def test_call_policy_resends_a_lost_answer_only_when_idempotent(
    idempotent: bool, tries: int
) -> None:
    call, calls = _failing([ConnectionLostError("reset")])
    policy = call_policy(RetrySettings(jitter_s=0.0), lambda _s: None, idempotent=idempotent)
    if idempotent:
        assert policy(call) == "done"
    else:
        with pytest.raises(ConnectionLostError):
            policy(call)
    assert len(calls) == tries


def test_call_policy_is_bounded_and_spaced() -> None:
    settings = RetrySettings(attempts=4, initial_s=0.25, max_s=1.0, multiplier=2.0, jitter_s=0)
    sleeps: list[float] = []
    call, calls = _failing([LockTimeoutError("lock")] * 9)
    with pytest.raises(LockTimeoutError):
        call_policy(settings, sleeps.append, idempotent=False)(call)
    assert len(calls) == 4 and sleeps == [0.25, 0.5, 1.0]


def test_call_policy_does_not_retry_permanent_errors() -> None:
    call, calls = _failing([PermanentPveError("no")])
    with pytest.raises(PermanentPveError):
        call_policy(RetrySettings(), lambda _s: None, idempotent=True)(call)
    assert len(calls) == 1


@pytest.mark.parametrize(
    ("exc", "want"),
    [
        (ReadFailedError("500"), True),
        (ConnectionLostError("reset"), True),
        (ConnectionRefusedError(), True),
        (NotFoundError("gone"), False),
        (ValueError("x"), False),
    ],
)
def test_not_yet(exc: BaseException, want: bool) -> None:
    assert not_yet(exc) is want


@pytest.mark.parametrize(
    ("attempt", "delay"), [(1, 0.25), (2, 0.375), (3, 0.5625), (5, 1.265625), (6, 1.5), (9, 1.5)]
)
def test_poll_backoff_grows_to_its_cap(attempt: int, delay: float) -> None:
    backoff = PollBackoff(initial_s=0.25, factor=1.5, max_s=1.5)
    assert backoff.delay(attempt) == pytest.approx(delay)
    assert isinstance(backoff.delay(attempt), float)


def test_poll_policy_never_sleeps_past_the_deadline_and_stops_at_it() -> None:
    clock = FakeClock()
    deadline = clock.now + 2.0
    polls: list[float] = []

    def poll() -> str:
        polls.append(clock.now)
        return "running"

    policy = poll_policy(
        deadline=deadline,
        clock=clock.monotonic,
        sleep=clock.sleep,
        backoff=PollBackoff(initial_s=0.75, factor=1.0, max_s=5.0),
        still_running=lambda r: r == "running",
    )
    with pytest.raises(tenacity.RetryError):
        policy(poll)
    assert clock.sleeps == [0.75, 0.75, 0.5]  # the last pause is cut to the deadline
    assert clock.now == deadline and len(polls) == 4


def test_poll_policy_returns_a_result_that_is_no_longer_running() -> None:
    clock = FakeClock()
    answers = iter(["running", "stopped"])
    policy = poll_policy(
        deadline=clock.now + 10.0,
        clock=clock.monotonic,
        sleep=clock.sleep,
        backoff=PollBackoff(initial_s=1.0, factor=2.0, max_s=5.0),
        still_running=lambda r: r == "running",
    )
    assert policy(lambda: next(answers)) == "stopped"
    assert clock.sleeps == [1.0]


def test_poll_policy_with_the_deadline_already_passed_polls_once() -> None:
    clock = FakeClock()
    policy = poll_policy(
        deadline=clock.now,
        clock=clock.monotonic,
        sleep=clock.sleep,
        backoff=PollBackoff(),
        still_running=lambda r: True,
    )
    with pytest.raises(tenacity.RetryError):
        policy(lambda: "running")
    assert clock.sleeps == []


@pytest.mark.parametrize(
    ("status", "method", "reason", "cls"),
    [(500, "POST", "CT 5 not running", NotRunningError),
     (500, "GET", "worker restarting", ReadFailedError)],
)  # fmt: skip
def test_every_class_carries_the_full_message_and_facts(
    status: int, method: str, reason: str, cls: type
) -> None:
    err = classify(_http(status, reason), method=method, path=PATH)
    assert type(err) is cls
    assert err.message == f"PVE {status} on {method} {PATH}: {reason}"
    assert err.context == {"status": status, "method": method, "path": PATH}


def test_an_answer_without_any_text() -> None:
    err = classify(ResourceException(500, "", ""), method="POST", path=PATH)
    assert type(err) is PermanentPveError
    assert err.message == f"PVE 500 on POST {PATH}: "


@pytest.mark.parametrize(
    ("exc", "cls", "message"),
    [
        (requests.exceptions.ConnectTimeout("timed out"), TransientPveError,
         f"PVE unreachable for PUT {PATH}: timed out"),
        (requests.exceptions.ChunkedEncodingError("reset"), ConnectionLostError,
         f"connection lost during PUT {PATH}: reset"),
        (AuthenticationError("Couldn't authenticate user\nmore"), AuthError,
         "PVE authentication failed: Couldn't authenticate user"),
        (RuntimeError("boom"), PveError, f"unexpected error during PUT {PATH}: RuntimeError: boom"),
    ],
)  # fmt: skip
def test_transport_errors_carry_the_request(exc: BaseException, cls: type, message: str) -> None:
    err = classify(exc, method="PUT", path=PATH)
    assert type(err) is cls
    assert err.message == message
    assert err.context == {"method": "PUT", "path": PATH}


def test_call_policy_jitter_comes_from_the_given_rng() -> None:
    settings = RetrySettings(attempts=3, initial_s=1.0, max_s=10.0, multiplier=2.0, jitter_s=0.5)
    sleeps: list[float] = []
    call, _ = _failing([LockTimeoutError("lock")] * 2)
    call_policy(settings, sleeps.append, idempotent=False, rng=random.Random(3))(call)
    rng = random.Random(3)
    assert sleeps == pytest.approx([1.0 + rng.uniform(0, 0.5), 2.0 + rng.uniform(0, 0.5)])
