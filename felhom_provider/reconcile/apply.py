"""Apply mechanics shared by the guest and golden engines: tasks, leases, host keys, destroy.

The client's tenacity policies retry transient errors a bounded number of times; what is
here is the layer above them: follow a task whose dispatch answer was lost instead of
sending it again, wait for a DHCP lease and for SSH host keys against a deadline, and
destroy a CT only when it carries our marker.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from typing import Any

from felhom_provider.errors import (
    ConnectionLostError,
    DispatchLostError,
    HostKeyError,
    NotFoundError,
    NotRunningError,
    OwnershipError,
    PveError,
    TransientPveError,
)
from felhom_provider.pve.retry import not_yet
from felhom_provider.reconcile.model import owner_of
from felhom_provider.reconcile.ports import Progress, PveApi

# Fallback window for a lost answer that carries no send time (DispatchLostError does).
TASK_CLOCK_SKEW_S = 30.0
#: At most one "still running" line per task this often, so ``pulumi up`` shows that a long
#: task (a restore, a vzdump) is alive without flooding the log with every poll.
HEARTBEAT_S = 10.0
#: How long a request PVE accepted may take to show its task: PVE waits up to 10 s for a
#: CT's config lock before the worker forks (``lock_file_full``), plus slack for pveproxy.
LOCK_WINDOW_S = 12.0


def upid_of(found: Any) -> Any:
    """``find_task`` may answer a UPID, a task dict or None; return the UPID or None."""
    if found is None:
        return None
    if isinstance(found, dict):
        return found.get("upid")
    return found


def effect_of(client: PveApi, kind: str, vmid: int) -> Callable[[], bool] | None:
    """A read telling whether a task of ``kind`` on ``vmid`` has had its effect, or None.

    Used after a lost answer when no task is found: without a task and without the effect,
    PVE never handled the request and it may be sent again. Kinds whose effect cannot be
    told apart from the state before (a resize, a backup) have none and are never re-sent.
    """

    def exists() -> bool:
        try:
            client.get_config(vmid)
        except NotFoundError:
            return False
        return True

    def status_is(wanted: str) -> Callable[[], bool]:
        def check() -> bool:
            try:
                return wanted == client.status(vmid).get("status")
            except NotFoundError:
                return False

        return check

    effects: dict[str, Callable[[], bool]] = {
        "vzrestore": exists,
        "vzcreate": exists,
        "vzstart": status_is("running"),
        "vzstop": status_is("stopped"),
        "vzshutdown": status_is("stopped"),
        "vzdestroy": lambda: not exists(),
    }
    return effects.get(kind)


def _seen(effect: Callable[[], bool]) -> bool:
    """Whether the effect shows; a read that fails counts as "seen" (never re-send blind)."""
    try:
        return effect()
    except PveError:
        return True


#: Description line written at restore and taken out before the first start: adoption only
#: ever destroys a CT that still carries it (one that never ran, so it holds no data).
NEVER_STARTED = "felhom-never-started"


def without_never_started(description: str) -> str:
    """``description`` without the never-started line."""
    lines = description.splitlines(keepends=True)
    return "".join(line for line in lines if line.strip() != NEVER_STARTED)


class Applier:
    """Runs PVE tasks and polls for one engine call; holds no state beyond its arguments."""

    def __init__(
        self,
        client: PveApi,
        progress: Progress,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        task_timeout_s: float,
        poll_s: float = 1.0,
        find_attempts: int = 5,
        lock_wait_s: float = 120.0,
        heartbeat_s: float = HEARTBEAT_S,
        lock_window_s: float = LOCK_WINDOW_S,
        resend_attempts: int = 3,
    ) -> None:
        self.client = client
        self.progress = progress
        self.clock = clock
        self.sleep = sleep
        self.task_timeout_s = task_timeout_s
        self.poll_s = poll_s
        self.find_attempts = find_attempts
        self.lock_wait_s = lock_wait_s
        self.heartbeat_s = heartbeat_s
        self.lock_window_s = lock_window_s
        self.resend_attempts = resend_attempts

    def dispatch(self, kind: str, vmid: int, send: Callable[[], Any]) -> Any:
        """Send a task-starting call and return its UPID; a lost answer is followed up.

        When the answer is lost (``ConnectionLostError``: the request may have run), look the
        task up in the node's task list (type, VMID, started since just before we sent) for
        the whole lock window and follow it when found. When PVE shows neither the task nor
        its effect (``effect_of``: the CT exists after a restore, runs after a start, ...)
        once the window has passed, PVE never handled the request: it is sent again, at
        most ``resend_attempts`` times in all and only from this thread, so the same request
        is never in flight twice. Kinds without a visible effect (resize, vzdump) are never
        re-sent: the lost answer is raised.
        """
        effect = effect_of(self.client, kind, vmid)
        if kind == "vzstart":
            self.mark_started(vmid)
        for attempt in range(1, self.resend_attempts + 1):
            try:
                return send()
            except ConnectionLostError as exc:
                self.progress(f"answer to {kind} for CT {vmid} lost ({exc}); finding its task")
                upid = self.recover(exc, kind, vmid)
                if upid is not None:
                    self.progress(f"found {kind} task {upid}; following it (not re-sent)")
                    return upid
                if effect is None or attempt >= self.resend_attempts or _seen(effect):
                    raise
                self.progress(
                    f"no {kind} task and no effect on CT {vmid} after {self.lock_window_s:g}s: "
                    f"PVE never handled it; sending it again ({attempt + 1}/{self.resend_attempts})"
                )
        raise AssertionError("unreachable")  # pragma: no cover

    def mark_started(self, vmid: int, attempts: int = 4) -> None:
        """Take the never-started line out of the description before a start (see
        ``NEVER_STARTED``).

        ``digest`` makes a concurrent edit fail instead of being lost. A PUT that fails (the
        digest moved, or a lost answer re-sent after it applied) is judged by reading the
        config again: the mark gone is success; otherwise it is tried again, bounded.
        """
        for attempt in range(1, attempts + 1):
            config = self.client.get_config(vmid)
            description = str(config.get("description") or "")
            cleaned = without_never_started(description)
            if cleaned == description:
                return
            try:
                self.client.put_config(vmid, {"description": cleaned}, digest=config.get("digest"))
                return
            except PveError:
                if attempt >= attempts:
                    raise
                self.progress(f"CT {vmid}: description changed meanwhile; reading it again")

    def recover(self, exc: ConnectionLostError, kind: str, vmid: int) -> Any:
        """The task a lost dispatch started, or None.

        Polled for at least ``find_attempts`` reads and until ``lock_window_s`` has passed:
        a request PVE had accepted may wait up to its 10 s config lock before its worker
        (and task entry) exists (pve-common ``PVE/Tools.pm`` ``lock_file_full``), and the
        POST may still be on its way through pveproxy when we ask. A failed read counts as
        "not found yet".
        """
        deadline = self.clock() + self.lock_window_s
        polls = self.find_attempts + int(self.lock_window_s / max(self.poll_s, 0.01)) + 1
        for attempt in range(1, polls + 1):
            try:
                if isinstance(exc, DispatchLostError):
                    upid = upid_of(self.client.recover_dispatch(exc))
                else:
                    since = time.time() - TASK_CLOCK_SKEW_S
                    upid = upid_of(self.client.find_task(kind, vmid, since))
            except TransientPveError:
                upid = None
            if upid is not None:
                return upid
            if attempt >= self.find_attempts and self.clock() >= deadline:
                break
            self.sleep(self.poll_s)
        return None

    def wait(self, upid: Any, what: str) -> Any:
        """Wait for a task to end OK (the client's *poll* policy: ``OK``/``WARNINGS: n``).

        Every poll reaches ``heartbeat``; at most one line per ``heartbeat_s`` goes to the
        progress log while the task runs.
        """
        self.progress(f"{what}: waiting for task {upid}")
        return self.client.wait_task(
            upid, timeout_s=self.task_timeout_s, on_progress=self.heartbeat(what)
        )

    def heartbeat(self, what: str) -> Callable[[Mapping[str, Any]], None]:
        """A task-status callback that reports a running task, rate-limited."""
        started = last = self.clock()

        def on_poll(status: Mapping[str, Any]) -> None:
            nonlocal last
            now = self.clock()
            if status.get("status") == "stopped" or now - last < self.heartbeat_s:
                return
            last = now
            self.progress(f"{what}: task still running after {now - started:.0f}s")

        return on_poll

    def run(self, kind: str, vmid: int, what: str, send: Callable[[], Any]) -> Any:
        """Dispatch and wait; returns the task result."""
        upid = self.dispatch(kind, vmid, send)
        return self.wait(upid, what)

    def wait_unlocked(self, vmid: int) -> dict[str, Any] | None:
        """Wait until the CT has no ``lock:`` (a task of ours or PVE's still holds it).

        Compensation must wait for the server task (field anchors §5 item 16): destroying
        during ``lock: create`` fails. The wait is bounded by ``lock_wait_s`` (a lock left by
        a task that died never clears by itself; the caller then reports the CT). Returns
        the config, or None when the CT is gone.
        """
        deadline = self.clock() + min(self.task_timeout_s, self.lock_wait_s)
        while True:
            try:
                config = self.client.get_config(vmid)
            except NotFoundError:
                return None
            if not config.get("lock") or self.clock() >= deadline:
                return config
            self.sleep(self.poll_s)

    def destroy(self, vmid: int, owner: str, *, trust_unmarked: bool = False) -> bool:
        """Stop and destroy (purge) CT ``vmid`` and verify it is gone.

        Returns False when it was already gone. A CT carrying someone else's marker is never
        touched (OwnershipError); one with no marker only when ``trust_unmarked`` (our own
        restore task made it but died before writing the config).
        """
        config = self.wait_unlocked(vmid)
        if config is None:
            return False
        marker = owner_of(config)
        if marker != owner and not (marker is None and trust_unmarked):
            raise OwnershipError(
                f"CT {vmid} carries owner {marker!r}, not {owner!r}; not touched",
                vmid=vmid,
                step="destroy",
            )
        if config.get("lock"):
            raise PveError(
                f"CT {vmid} is still locked ({config['lock']}) after {self.lock_wait_s:g}s; "
                f"the task holding it died: `pct unlock {vmid}` on the node, then delete it",
                vmid=vmid,
                step="destroy",
            )
        try:
            status = self.client.status(vmid).get("status")
        except NotFoundError:
            return False
        if status == "running":
            self.progress(f"stopping CT {vmid}")
            # NotRunningError: someone (or a crash) stopped it meanwhile.
            with contextlib.suppress(NotRunningError):
                self.run("vzstop", vmid, f"stop CT {vmid}", lambda: self.client.stop(vmid))
        self.progress(f"destroying CT {vmid} (purge, unreferenced disks)")
        try:
            self.run(
                "vzdestroy",
                vmid,
                f"destroy CT {vmid}",
                lambda: self.client.destroy(
                    vmid, purge=True, destroy_unreferenced_disks=True, force=False
                ),
            )
        except NotFoundError:
            return True
        try:
            after = self.client.get_config(vmid)
        except NotFoundError:
            return True
        if owner_of(after) != marker:
            # The destroy task succeeded and another bring-up has already taken the freed
            # VMID (nextid hands it out again at once): ours is gone.
            return True
        raise PveError(f"CT {vmid} still exists after destroy", vmid=vmid, step="verify-gone")


def lease_of(ifaces: list[dict[str, Any]] | None, mac: str | None) -> str | None:
    """The IPv4 address on the guest's NIC (by MAC, else the first non-``lo``), or None.

    ``GET …/interfaces`` returns null while the CT is not running (``PVE/LXC.pm``
    ``get_interfaces``); ``inet`` is ``addr/prefix``; newer PVE adds ``ip-addresses``.
    """
    for iface in ifaces or []:
        if iface.get("name") == "lo":
            continue
        hw = str(iface.get("hardware-address") or iface.get("hwaddr") or "").upper()
        if mac and hw and hw != mac.upper():
            continue
        for addr in iface.get("ip-addresses") or []:
            if addr.get("ip-address-type") == "inet" and addr.get("ip-address"):
                return str(addr["ip-address"])
        inet = iface.get("inet")
        if inet:
            return str(inet).split("/", 1)[0]
    return None


def poll_until(
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    timeout_s: float,
    interval_s: float,
    probe: Callable[[], Any],
) -> Any:
    """Call ``probe`` until it returns something truthy or the deadline passes (then None).

    Transient PVE errors, host-key probe failures and socket errors (sshd not up yet)
    count as "not yet"; permanent errors propagate.
    """
    deadline = clock() + timeout_s
    while True:
        try:
            value = probe()
        except Exception as exc:
            if not (not_yet(exc) or isinstance(exc, HostKeyError)):
                raise
            value = None
        if value:
            return value
        if clock() >= deadline:
            return None
        sleep(interval_s)
