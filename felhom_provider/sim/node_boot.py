"""Node reboot: every guest stops, then the ``startall`` task starts the ``onboot`` guests.

Source: pve-manager ``PVE/API2/Nodes.pm`` (``startall``, ``get_start_stop_list``,
``$remove_locks_on_startup``), which ``pve-guests.service`` runs at boot:

* left-over ``lock: backup`` is removed first (``removed left over backup lock from '<id>'!``);
* guests with ``onboot=1`` (not templates) are grouped by ``startup`` ``order`` (no order =
  last, as ``LONG_MAX``), groups in ascending order, VMIDs ascending inside a group;
* each CT is started (``Starting CT <vmid>``; one already running is skipped); after it, the
  task waits ``up`` seconds (``Waiting for <up> seconds (startup delay)``) before the next;
* a group's start tasks must all end before the next group begins; a failed start is logged
  (``Starting CT <vmid> failed: <status>``) and the rest go on.

Delays run on the simulator clock: a manual clock waits for ``advance``, a scaled clock
multiplies them by its time scale (0 = no wait).

Not imitated: ``down`` delays and the ordered ``stopall`` of a clean shutdown (a reboot here
stops every guest at once, as after a power cut), ``max-workers`` (starts are not limited),
quorum waits, HA-managed guests, VMs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from felhom_provider.sim import lxc_power
from felhom_provider.sim.auth import ROOT
from felhom_provider.sim.errors import SimApiError

if TYPE_CHECKING:
    from felhom_provider.sim.state import SimState
    from felhom_provider.sim.tasks import Task

LAST = 2**63 - 1  # Perl's LONG_MAX: guests without an order start last
_STARTUP = re.compile(r"^(?:(order|up|down)=(\d+))$")


def parse_startup(value: str | None) -> dict[str, int]:
    """``pve_parse_startup_order``: ``[order=]N,up=N,down=N`` into a dict."""
    out: dict[str, int] = {}
    for raw in (value or "").split(","):
        part = raw.strip()
        if not part:
            continue
        if part.isdigit():
            out["order"] = int(part)
            continue
        m = _STARTUP.match(part)
        if m:
            out[m.group(1)] = int(m.group(2))
    return out


def start_list(state: SimState, *, force: bool = False) -> list[list[tuple[int, int | None]]]:
    """Groups of (vmid, up delay) in start order (``get_start_stop_list``)."""
    groups: dict[int, list[tuple[int, int | None]]] = {}
    with state.mutex:
        cts = list(state.cts.values())
    for ct in cts:
        if ct.is_template or (not force and ct.conf.get("onboot") != "1"):
            continue
        startup = parse_startup(ct.conf.get("startup"))
        groups.setdefault(startup.get("order", LAST), []).append((ct.vmid, startup.get("up")))
    return [sorted(groups[order]) for order in sorted(groups)]


def reboot(state: SimState) -> str:
    """Simulate a node reboot: stop every running CT, then run ``startall``; its UPID."""
    with state.mutex:
        running = [ct for ct in state.cts.values() if ct.status == "running"]
    for ct in running:
        lxc_power.stop_now(state, ct)
    state.boot_time = state.clock.now()
    return startall(state, ROOT)


def startall(state: SimState, actor: str, *, force: bool = False) -> str:
    """The ``startall`` task (id empty, as PVE's); returns its UPID at once."""
    task = state.tasks.create("startall", "", actor, state.clock.now())
    _remove_backup_locks(state, task)
    _Run(state, task, actor, start_list(state, force=force)).advance()
    return task.upid


def _remove_backup_locks(state: SimState, task: Task) -> None:
    with state.mutex:
        for ct in state.cts.values():
            if ct.conf.get("lock") == "backup":
                del ct.conf["lock"]
                state.save_ct(ct)
                state.tasks.log(task, f"removed left over backup lock from '{ct.vmid}'!")


@dataclass
class _Run:
    """The startall loop as a resumable state machine on the simulator's scheduler."""

    state: SimState
    task: Task
    actor: str
    groups: list[list[tuple[int, int | None]]]
    group: int = 0
    index: int = 0
    upids: dict[int, str] = field(default_factory=dict)

    def _later(self, seconds: float, *, poll: bool = False) -> bool:
        """Resume after ``seconds`` of simulated time; False when that is no time at all.

        A poll on an instant clock still waits 10 ms of wall time: a start may be waiting
        for a config flock on another thread.
        """
        clock = self.state.clock
        wait = seconds * float(getattr(clock, "time_scale", 1.0))
        if wait <= 0 and not poll:
            return False
        self.state.scheduler.at(clock.now() + max(wait, 0.01), self.advance)
        return True

    def advance(self) -> None:
        """Start guests until a delay or a running group needs the clock to move."""
        log = self.state.tasks.log
        while self.group < len(self.groups):
            members = self.groups[self.group]
            if self.index < len(members):
                vmid, up = members[self.index]
                self.index += 1
                self._start(vmid)
                if up:
                    log(self.task, f"Waiting for {up} seconds (startup delay)")
                    if self._later(up):
                        return
                continue
            if any(self._running(upid) for upid in self.upids.values()):
                self._later(1.0, poll=True)  # Nodes.pm polls its workers once a second
                return
            for vmid, upid in sorted(self.upids.items()):
                done = self.state.tasks.get(upid)
                status = done.exitstatus if done is not None else None
                if status not in (None, "OK"):
                    log(self.task, f"Starting CT {vmid} failed: {status}")
            self.group, self.index, self.upids = self.group + 1, 0, {}
        self.state.tasks.finish(self.task, self.state.clock.now())

    def _start(self, vmid: int) -> None:
        ct = self.state.cts.get(vmid)
        if ct is None or ct.status == "running":
            return
        self.state.tasks.log(self.task, f"Starting CT {vmid}")
        try:
            self.upids[vmid] = lxc_power.start(self.state, self.actor, vmid)
        except SimApiError as exc:
            self.state.tasks.log(self.task, f"Starting CT {vmid} failed: {exc.message}")

    def _running(self, upid: str) -> bool:
        task = self.state.tasks.get(upid)
        return task is not None and task.exitstatus is None
