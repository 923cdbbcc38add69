"""Errors the simulator's rules raise, shaped like PVE's HTTP answers.

PVE maps a ``PVE::Exception`` to its code (400 for ``raise_param_exc``, 403 for
``raise_perm_exc``) and any other ``die`` to 500 with the die text as the message
(pve-manager ``PVE/HTTPServer.pm`` ``rest_handler``). The state module raises these
classes; the HTTP layer renders them and the node shell turns them into stderr lines.
"""

from __future__ import annotations


class SimApiError(Exception):
    """An API error: HTTP ``status``, PVE's message, optional per-parameter ``errors``."""

    status = 500

    def __init__(
        self, message: str, *, status: int | None = None, errors: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.errors = dict(errors) if errors else None

    def __str__(self) -> str:
        return self.message


class ParamError(SimApiError):
    """HTTP 400 ``Parameter verification failed.`` with an ``errors`` map (``raise_param_exc``)."""

    status = 400

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("Parameter verification failed.", errors=errors)


class PermissionCheckError(SimApiError):
    """HTTP 403 ``Permission check failed (...)`` (``raise_perm_exc``)."""

    status = 403

    def __init__(self, detail: str | None = None) -> None:
        text = (
            "Permission check failed" if detail is None else f"Permission check failed ({detail})"
        )
        super().__init__(text)


class AuthFailedError(SimApiError):
    """HTTP 401 ``Authentication failed!`` (bad ticket, token or password)."""

    status = 401

    def __init__(self) -> None:
        super().__init__("Authentication failed!")


class NotImplementedPathError(SimApiError):
    """HTTP 501 ``Method 'GET /x' not implemented`` for paths PVE (or the simulator) lacks."""

    status = 501

    def __init__(self, method: str, path: str) -> None:
        super().__init__(f"Method '{method} {path}' not implemented")


class TaskError(Exception):
    """Raised inside a task worker: the task ends with ``TASK ERROR: <message>``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def lock_timeout_message(vmid: int) -> str:
    """PVE's flock timeout text (pve-common ``Tools.pm`` ``lock_file_full``, ``Config.pm`` path)."""
    return f"can't lock file '/run/lock/lxc/pve-config-{vmid}.lock' - got timeout"
