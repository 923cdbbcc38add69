"""The classes the one classifier added for reads, stopped CTs and node-shell stderr."""

from __future__ import annotations

import pytest
from proxmoxer.core import ResourceException

from felhom_provider.errors import (
    AlreadyExistsError,
    GuestCommandError,
    GuestLockedError,
    LockTimeoutError,
    NotFoundError,
    NotRunningError,
    PermanentPveError,
    ReadFailedError,
    TransientPveError,
)
from felhom_provider.pve.retry import call_retryable, classify, classify_command

PATH = "/nodes/pve/lxc/123/interfaces"


@pytest.mark.parametrize(
    ("method", "status", "reason", "cls"),
    [
        ("GET", 500, "unable to read interfaces: worker restarting", ReadFailedError),
        ("GET", 501, "not implemented (yet)", ReadFailedError),
        ("POST", 500, "unable to read interfaces: worker restarting", PermanentPveError),
        ("PUT", 500, "something odd", PermanentPveError),
        ("GET", 500, "Configuration file 'nodes/pve/lxc/123.conf' does not exist", NotFoundError),
        ("POST", 500, "CT 123 not running", NotRunningError),
        ("GET", 400, "Parameter verification failed.", PermanentPveError),
    ],
)
def test_reads_answered_5xx_are_transient_writes_are_not(method, status, reason, cls):
    err = classify(ResourceException(status, "Status", reason), method=method, path=PATH)
    assert type(err) is cls or (cls is PermanentPveError and type(err).__name__ == "ParameterError")
    assert call_retryable(True)(err) is isinstance(err, TransientPveError)


def _failed(stderr: str) -> GuestCommandError:
    return GuestCommandError("pct create 100 exited 255", exit_code=255, stderr=stderr, vmid=100)


@pytest.mark.parametrize(
    ("stderr", "cls"),
    [
        ("unable to create CT 100 - CT 100 already exists on node 'pve'", AlreadyExistsError),
        ("can't lock file '/run/lock/lxc/pve-config-100.lock' - got timeout", LockTimeoutError),
        ("ERROR: Backup of VM 100 failed - CT is locked (backup)", GuestLockedError),
        ("CT 100 not running", NotRunningError),
    ],
)
def test_node_shell_stderr_is_classified_like_the_api(stderr, cls):
    exc = _failed("some progress\n" + stderr)
    err = classify_command(exc)
    assert type(err) is cls
    assert err.pve_message == stderr  # type: ignore[attr-defined]
    assert err.context["vmid"] == 100 and "exit_code" not in err.context
    assert err.__cause__ is exc and err.message == exc.message
    if cls is GuestLockedError:
        assert err.context["lock"] == "backup"


def test_unknown_node_shell_failure_is_returned_as_it_is():
    exc = _failed("tar: short read")
    assert classify_command(exc) is exc
    assert classify_command(_failed("")) is not None
