"""The classifier table: proxmoxer/requests errors → the error tree."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
import requests
from proxmoxer.core import AuthenticationError, ResourceException

from felhom_provider.errors import (
    AlreadyExistsError,
    AuthError,
    ConnectionLostError,
    GuestLockedError,
    LockTimeoutError,
    NotFoundError,
    ParameterError,
    PermanentPveError,
    PermissionDeniedError,
    PveError,
    TransientPveError,
)
from felhom_provider.pve.retry import call_retryable, classify, dispatch_retryable

LOCK = "can't lock file '/run/lock/lxc/pve-config-123.lock' - got timeout"
CASES = [
    # (status, reason phrase, errors map, expected class)
    (401, "Authentication failed!", None, AuthError),
    (403, "Permission check failed (/vms/123, VM.Allocate)", None, PermissionDeniedError),
    (400, "Parameter verification failed.", {"net0": "invalid format"}, ParameterError),
    (400, "Parameter verification failed.", {"vmid": "VM 123 already exists"}, AlreadyExistsError),
    (404, "Not Found", None, NotFoundError),
    (500, LOCK, None, LockTimeoutError),
    (500, "unable to restore CT 123 - " + LOCK, None, LockTimeoutError),
    (500, "CT is locked (backup)", None, GuestLockedError),
    (500, "VM is locked (create)", None, GuestLockedError),
    (500, "CT 123 already exists on node 'pve'", None, AlreadyExistsError),
    (
        500,
        "unable to restore CT 123 - CT 123 already exists on node 'pve'",
        None,
        AlreadyExistsError,
    ),
    (500, "Configuration file 'nodes/pve/lxc/123.conf' does not exist", None, NotFoundError),
    (500, "CT 123 already running", None, PermanentPveError),
    (500, "unable to destroy CT 123 - container is running", None, PermanentPveError),
    (500, "disk is already at specified size", None, PermanentPveError),
    (
        500,
        "detected modified configuration - file changed by other user? Try again.",
        None,
        PermanentPveError,
    ),
    (500, "mount points configured, but 'rootfs' not set - aborting", None, PermanentPveError),
    (501, "Method 'GET /nodes/pve/x' not implemented", None, PermanentPveError),
    (502, "Bad Gateway", None, TransientPveError),
    (503, "Service Unavailable", None, TransientPveError),
    (595, "Errors during connection establishment", None, TransientPveError),
    (504, "Gateway Timeout", None, ConnectionLostError),
    (596, "Errors during TLS negotiation", None, ConnectionLostError),
]


@pytest.mark.parametrize(("status", "reason", "errors", "cls"), CASES)
def test_http_errors(status, reason, errors, cls):
    exc = ResourceException(status, "Status", reason, errors=errors)
    err = classify(exc, method="PUT", path="/nodes/pve/lxc/123/config")
    assert type(err) is cls
    assert isinstance(err, PveError)
    assert err.status == status
    assert err.pve_message == reason
    assert err.context["method"] == "PUT"
    assert err.context["path"] == "/nodes/pve/lxc/123/config"
    assert f"PVE {status} on PUT /nodes/pve/lxc/123/config: {reason}" in str(err)


def test_param_errors_name_every_field():
    errors = {"net0": "invalid format - missing 'name'", "rootfs": "unable to parse volume"}
    err = classify(ResourceException(400, "Bad Request", "Parameter verification failed.", errors))
    assert isinstance(err, ParameterError)
    assert isinstance(err, ValueError)
    assert err.errors == errors
    assert "net0: invalid format - missing 'name'" in str(err)
    assert "rootfs: unable to parse volume" in str(err)


@pytest.mark.parametrize(
    ("reason", "missing"),
    [
        ("Permission check failed (/vms/123, VM.Allocate)", ["VM.Allocate on /vms/123"]),
        (
            "Permission check failed (/vms/123, VM.Config.Disk|VM.Config.CPU)",
            ["VM.Config.Disk on /vms/123", "VM.Config.CPU on /vms/123"],
        ),
        (
            "Permission check failed (changing feature flags (except nesting) is only allowed "
            "for root@pam)",
            [],
        ),
    ],
)
def test_permission_denied_names_privileges(reason, missing):
    err = classify(ResourceException(403, "Forbidden", reason))
    assert isinstance(err, PermissionDeniedError)
    assert err.missing == missing


def test_lock_name_is_kept():
    err = classify(ResourceException(500, "Internal Server Error", "CT is locked (backup)"))
    assert err.context["lock"] == "backup"


def test_already_classified_passes_through():
    err = LockTimeoutError("x")
    assert classify(err) is err


def test_ticket_auth_failure():
    assert isinstance(classify(AuthenticationError("Couldn't authenticate")), AuthError)


def test_ssl_error_is_identity_failure_not_transient():
    err = classify(requests.exceptions.SSLError("Fingerprints did not match"))
    assert isinstance(err, AuthError)
    assert not isinstance(err, TransientPveError)


@pytest.mark.parametrize(
    ("err", "dispatch", "call_idem", "call_nonidem"),
    [
        (LockTimeoutError("x"), True, True, True),
        (GuestLockedError("x"), True, True, True),
        (TransientPveError("503"), True, True, True),
        (ConnectionLostError("reset"), False, True, False),
        (PermanentPveError("x"), False, False, False),
        (AlreadyExistsError("x"), False, False, False),
        (AuthError("x"), False, False, False),
    ],
)
def test_policy_predicates(err, dispatch, call_idem, call_nonidem):
    assert dispatch_retryable(err) is dispatch
    assert call_retryable(True)(err) is call_idem
    assert call_retryable(False)(err) is call_nonidem


# --- real loopback sockets: what requests raises for each way a connection fails ----------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def rude_server() -> Iterator[tuple[int, list[str]]]:
    """Accepts, reads the request, and either hangs up or never answers."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    mode: list[str] = ["hangup"]
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            conn.recv(65536)
            if mode[0] == "hangup":
                conn.close()
            else:
                stop.wait(5)
                conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield int(srv.getsockname()[1]), mode
    stop.set()
    srv.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(); close() alone would not
    srv.close()
    t.join(timeout=6)


def _raised(url: str, timeout: float = 5.0) -> BaseException:
    try:
        requests.get(url, timeout=timeout)
    except requests.RequestException as exc:
        return exc
    raise AssertionError("no error")


def test_refused_connection_was_never_sent():
    err = classify(_raised(f"http://127.0.0.1:{_free_port()}/"), method="POST", path="/x")
    assert type(err) is TransientPveError
    assert dispatch_retryable(err)


def test_hangup_after_send_may_have_run(rude_server):
    port, _ = rude_server
    err = classify(_raised(f"http://127.0.0.1:{port}/"), method="POST", path="/x")
    assert isinstance(err, ConnectionLostError)
    assert not dispatch_retryable(err)


def test_read_timeout_may_have_run(rude_server):
    port, mode = rude_server
    mode[0] = "silent"
    err = classify(_raised(f"http://127.0.0.1:{port}/", timeout=0.2), method="POST", path="/x")
    assert isinstance(err, ConnectionLostError)
