"""The simulated node's state: data, locks, clock, task runner and persistence; no rules.

``SimState`` holds what a PVE node holds (CT configs and runtime, storages, DHCP leases,
pools, tasks, the ACL database), the config flocks, the clock with its scheduler, and the
task runner with its config-lock handling. It loads and saves itself under ``state_dir``.

The API's rules live in their own modules, which take the state as their first argument:
``lxc_create``, ``lxc_config``, ``lxc_pending``, ``lxc_power``, ``lxc_move``, ``backup``,
``pools``, ``node_boot`` and ``nodeinfo``. The HTTP handlers (``api_*``) and the node
shell (``guest/nodecli``) call those modules directly; this module imports none of them.
Every rule takes the acting identity (``root@pam``, ``user@realm`` or a token id
``user@realm!tok``) and raises ``SimApiError`` subclasses shaped like PVE's answers;
operations that PVE runs as workers return a UPID and do their work when the task
completes on the clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from felhom_provider.sim.auth import AuthDb
from felhom_provider.sim.clock import Clock, ScaledClock, Scheduler
from felhom_provider.sim.errors import ParamError, SimApiError, TaskError, lock_timeout_message
from felhom_provider.sim.faults import Faults
from felhom_provider.sim.hookbase import GuestHooks
from felhom_provider.sim.locks import ConfigLocks
from felhom_provider.sim.models import Container
from felhom_provider.sim.network import Dhcp
from felhom_provider.sim.persist import atomic_write_json, atomic_write_text, read_json
from felhom_provider.sim.poolcfg import Pools
from felhom_provider.sim.storage import StorageRegistry
from felhom_provider.sim.tasks import Task, TaskRegistry


@dataclass
class SimSettings:
    """Tunables: node name, flock waits (PVE: 10 s and 5 s), delay after a failed login."""

    node: str = "pve-sim"
    lock_wait: float = 10.0
    create_lock_wait: float | None = None
    auth_fail_delay: float = 0.0

    @property
    def create_wait(self) -> float:
        """``create_and_lock_config``'s wait: half the normal wait unless set."""
        return self.lock_wait / 2 if self.create_lock_wait is None else self.create_lock_wait


class SimState:
    """One simulated PVE node backed by ``state_dir``."""

    def __init__(
        self,
        state_dir: Path,
        *,
        clock: Clock | None = None,
        settings: SimSettings | None = None,
        hooks: GuestHooks | None = None,
        faults: Faults | None = None,
    ) -> None:
        self.dir = Path(state_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.settings = settings or SimSettings()
        self.node = self.settings.node
        self.clock = clock or ScaledClock(0.0)
        self.scheduler = Scheduler(self.clock)
        self.locks = ConfigLocks(self.settings.lock_wait)
        self.hooks = hooks or GuestHooks()
        self.faults = faults or Faults()
        self.mutex = threading.RLock()
        self.boot_time = self.clock.now() - 3600.0
        self.auth = AuthDb.load_or_create(self.dir / "auth.json")
        self.storage = StorageRegistry(self.dir)
        self.dhcp = Dhcp(self.dir / "network.json")
        self.pools = Pools(self.dir / "pools.json")
        self.tasks = TaskRegistry(self.node, self.dir / "tasks", self.boot_time)
        self.cts: dict[int, Container] = {}
        self.interrupted: list[Task] = []
        self.hooks.attach(self.storage)
        self._load()

    # -- persistence ----------------------------------------------------------------

    def _load(self) -> None:
        self.storage.load(self.clock.now())
        self.dhcp.load()
        self.pools.load()
        lxc = self.dir / "lxc"
        lxc.mkdir(exist_ok=True)
        for conf in lxc.glob("*.conf"):
            vmid = int(conf.stem)
            runtime = read_json(lxc / f"{vmid}.json")
            self.cts[vmid] = Container.from_files(vmid, conf.read_text(), runtime)
        self.interrupted = self.tasks.load()
        for ct in self.cts.values():
            if ct.status == "running":
                # The guest kept running while the API daemon was down; let the model resume.
                self.hooks.on_start(ct, self.dhcp.lease_of(ct, "net0"))

    def save_ct(self, ct: Container) -> None:
        """Write the CT's pct.conf and runtime file atomically."""
        lxc = self.dir / "lxc"
        atomic_write_text(lxc / f"{ct.vmid}.conf", ct.text())
        atomic_write_json(lxc / f"{ct.vmid}.json", ct.runtime_json())

    def drop_ct(self, vmid: int) -> None:
        """Forget a CT and delete its files."""
        with self.mutex:
            self.cts.pop(vmid, None)
        for suffix in (".conf", ".json"):
            (self.dir / "lxc" / f"{vmid}{suffix}").unlink(missing_ok=True)

    def close(self) -> None:
        """Stop the scheduler; queued task completions never run (the process "died")."""
        self.scheduler.stop()

    # -- lookups ----------------------------------------------------------------------

    def check_node(self, node: str) -> None:
        """Only this node exists (pve-cluster ``check_node_exists``)."""
        if node != self.node:
            raise SimApiError(f"no such cluster node '{node}'")

    def ct(self, vmid: int) -> Container:
        """The CT or PVE's missing-config 500."""
        with self.mutex:
            found = self.cts.get(vmid)
        if found is None:
            raise SimApiError(
                f"Configuration file 'nodes/{self.node}/lxc/{vmid}.conf' does not exist"
            )
        return found

    # -- tasks ------------------------------------------------------------------------

    def run_task(
        self,
        actor: str,
        ttype: str,
        vmid: int | None,
        *,
        tid: str | None = None,
        lock: str | None = "hold",
        lock_taken: bool = False,
        begin: Callable[[Task], None] | None = None,
        body: Callable[[Task], int | None],
        on_error: Callable[[Task], None] | None = None,
        error_prefix: str = "",
        after: Callable[[Task], None] | None = None,
    ) -> str:
        """Start a worker task and return its UPID.

        ``lock`` is ``"hold"`` (the CT flock is held until the task ends, as ``lock_config``
        around the whole worker), ``"brief"`` (held only around ``begin``) or None. The
        flock is taken in the worker: if busy, the task waits ``lock_wait`` and then fails
        with PVE's ``can't lock file`` text. ``begin`` runs when the task starts, ``body``
        when the clock says it is done; ``body`` returns a warning count.
        """
        task = self.tasks.create(ttype, str(vmid) if tid is None else tid, actor, self.clock.now())
        holding = lock == "hold" and vmid is not None

        def fail(message: str) -> None:
            if on_error is not None:
                try:
                    on_error(task)
                except Exception as exc:  # cleanup failures are logged, like PVE's warn
                    self.tasks.log(task, f"cleanup failed: {exc}")
            self.tasks.finish(task, self.clock.now(), error=error_prefix + message)

        def complete() -> None:
            try:
                forced = self.faults.match_task(ttype, vmid)
                if forced is not None:
                    raise TaskError(forced)
                warnings = body(task) or 0
            except (TaskError, SimApiError) as exc:
                self._release(vmid, holding)
                fail(exc.message)
                return
            except Exception as exc:
                self._release(vmid, holding)
                fail(f"simulator error: {exc!r}")
                return
            self._release(vmid, holding)
            self.tasks.finish(task, self.clock.now(), warnings=warnings)
            if after is not None:
                after(task)

        def started() -> None:
            try:
                if begin is not None:
                    begin(task)
            except (TaskError, SimApiError) as exc:
                self._release(vmid, holding or lock == "brief")
                fail(exc.message)
                return
            if lock == "brief" and vmid is not None:
                self.locks.release(vmid)
            duration = self.clock.duration(ttype)
            if duration <= 0:
                complete()
            else:
                self.scheduler.at(self.clock.now() + duration, complete)

        if (
            lock is None
            or vmid is None
            or lock_taken
            or self.locks.acquire(vmid, task.upid, timeout=0)
        ):
            started()
        else:
            threading.Thread(
                target=self._wait_lock, args=(task, vmid, started, fail), daemon=True
            ).start()
        return task.upid

    def _wait_lock(
        self, task: Task, vmid: int, started: Callable[[], None], fail: Callable[[str], None]
    ) -> None:
        self.tasks.log(task, "trying to acquire lock...")
        if self.locks.acquire(vmid, task.upid):
            self.tasks.log(task, " OK")
            started()
        else:
            fail(lock_timeout_message(vmid))

    def _release(self, vmid: int | None, holding: bool) -> None:
        if holding and vmid is not None:
            self.locks.release(vmid)

    def flock(self, vmid: int, owner: str = "request", timeout: float | None = None) -> None:
        """Take the CT flock for a synchronous call or raise the 500 timeout error."""
        if not self.locks.acquire(vmid, owner, timeout):
            raise SimApiError(lock_timeout_message(vmid))

    def hold_lock(self, vmid: int, seconds: float) -> None:
        """Fault: hold ``vmid``'s flock for ``seconds`` of clock time (waits for it first)."""
        self.flock(vmid, owner="fault")
        self.scheduler.at(self.clock.now() + seconds, lambda: self.locks.release(vmid))
        if seconds <= 0:
            self.scheduler.run_due()

    def advance(self, seconds: float) -> int:
        """Manual clock only: move time forward and complete what became due."""
        advance = getattr(self.clock, "advance", None)
        if advance is None:
            raise ParamError({"seconds": "the simulator clock is not manual"})
        advance(seconds)
        return self.scheduler.run_due()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait (wall time) until no task is running; for scaled clocks and tests."""
        deadline = time.monotonic() + timeout
        while self.tasks.running():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True
