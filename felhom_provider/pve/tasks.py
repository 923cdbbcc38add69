"""PVE task identifiers (UPIDs) and waiting for a task to end.

A PVE worker is named by its UPID, ``UPID:<node>:<pid>:<pstart>:<starttime>:<type>:<id>:<user>:``
(pve-common ``src/PVE/UPID.pm`` ``encode``). ``wait_for_task`` polls the task status until it
stops or a deadline passes; success is only exitstatus ``OK`` or ``WARNINGS: n`` (``UPID.pm``
``status_is_error``) — proxmoxer's ``blocking_status`` does not check this, we do.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import tenacity

from felhom_provider.errors import TaskFailedError, TaskTimeoutError
from felhom_provider.pve.retry import PollBackoff, poll_policy

# Decode pattern from pve-common UPID.pm; the id may be empty (a multi-guest vzdump) and
# pstart may reach 9 hex digits. The user part keeps "!tokenid" for token-started tasks.
_UPID_RE = re.compile(
    r"^UPID:(?P<node>[a-zA-Z0-9](?:[a-zA-Z0-9\-]*[a-zA-Z0-9])?)"
    r":(?P<pid>[0-9A-Fa-f]{8}):(?P<pstart>[0-9A-Fa-f]{8,9}):(?P<starttime>[0-9A-Fa-f]{8})"
    r":(?P<type>[^:\s/]+):(?P<id>[^:\s/]*):(?P<user>[^:\s/]+):$"
)
_WARNINGS_RE = re.compile(r"^WARNINGS: (\d+)$")


@dataclass(frozen=True)
class Upid:
    """A parsed PVE task id. ``str(upid)`` gives the exact text PVE handed out."""

    node: str
    pid: int
    pstart: int
    starttime: int
    type: str
    id: str
    user: str
    text: str = field(default="", compare=False, repr=False)

    @classmethod
    def parse(cls, text: str) -> Upid:
        """Parse a UPID string; raises ``ValueError`` naming the text if it is not one."""
        m = _UPID_RE.match(text.strip()) if isinstance(text, str) else None
        if m is None:
            raise ValueError(f"not a PVE task id (UPID): {text!r}")
        return cls(
            node=m["node"],
            pid=int(m["pid"], 16),
            pstart=int(m["pstart"], 16),
            starttime=int(m["starttime"], 16),
            type=m["type"],
            id=m["id"],
            user=m["user"],
            text=text.strip(),
        )

    def encode(self) -> str:
        """The canonical text form (uppercase, zero-padded hex as ``UPID.pm`` prints it)."""
        return (
            f"UPID:{self.node}:{self.pid:08X}:{self.pstart:08X}:{self.starttime:08X}"
            f":{self.type}:{self.id}:{self.user}:"
        )

    def __str__(self) -> str:
        # Send back exactly what PVE gave us, in case its hex case ever differs from ours.
        return self.text or self.encode()

    @property
    def vmid(self) -> int | None:
        """The guest id the task is about, when its id field is numeric."""
        return int(self.id) if self.id.isdigit() else None


def is_success(exitstatus: str | None) -> bool:
    """True for ``OK`` and ``WARNINGS: n``: the only successful exit statuses."""
    return exitstatus == "OK" or (exitstatus is not None and bool(_WARNINGS_RE.match(exitstatus)))


def warning_count(exitstatus: str | None) -> int:
    """The ``n`` of ``WARNINGS: n``, else 0."""
    m = _WARNINGS_RE.match(exitstatus or "")
    return int(m.group(1)) if m else 0


@dataclass(frozen=True)
class TaskResult:
    """A task that ended successfully."""

    upid: Upid
    exitstatus: str
    status: Mapping[str, Any]

    @property
    def warnings(self) -> int:
        """How many warnings the task logged (``WARNINGS: n``)."""
        return warning_count(self.exitstatus)


def wait_for_task(
    fetch_status: Callable[[Upid], Mapping[str, Any]],
    upid: Upid,
    *,
    timeout_s: float,
    backoff: PollBackoff | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    on_progress: Callable[[Mapping[str, Any]], None] | None = None,
) -> TaskResult:
    """Poll ``fetch_status`` until the task stops: the poll policy of design §2.8.

    Transient errors while reading the status (a dropped connection, a restarting node) are
    polled through until the deadline, since reading a status is safe to repeat. Raises
    ``TaskFailedError`` for any exitstatus other than ``OK``/``WARNINGS: n``, and
    ``TaskTimeoutError`` when the task is still running at the deadline (the task is *not*
    stopped; the caller decides what to do with it).
    """

    def poll() -> Mapping[str, Any]:
        status = fetch_status(upid)
        if on_progress is not None:
            on_progress(status)
        return status

    policy = poll_policy(
        deadline=clock() + timeout_s,
        clock=clock,
        sleep=sleep,
        backoff=backoff or PollBackoff(),
        still_running=lambda status: status.get("status") != "stopped",
    )
    try:
        status = policy(poll)
    except tenacity.RetryError as err:
        last = err.last_attempt
        detail = ""
        if last.failed:
            detail = f" (last poll failed: {last.exception()})"
        raise TaskTimeoutError(
            f"task {upid.type} still running after {timeout_s:g}s{detail}",
            upid=str(upid),
            node=upid.node,
            vmid=upid.vmid,
        ) from None
    exitstatus = str(status.get("exitstatus", "unexpected status"))
    if is_success(exitstatus):
        return TaskResult(upid=upid, exitstatus=exitstatus, status=dict(status))
    raise TaskFailedError(
        f"task {upid.type} failed: {exitstatus}",
        upid=str(upid),
        exitstatus=exitstatus,
        node=upid.node,
        vmid=upid.vmid,
    )
