"""Worker tasks: UPIDs, status, logs, and the registry that keeps them on disk.

UPID text follows pve-common ``UPID.pm`` ``encode``:
``UPID:<node>:<pid %08X>:<pstart %08X>:<starttime %08X>:<type>:<id>:<user>:``, where the
user is the full auth id including ``!tokenid``. A finished task's ``exitstatus`` is read
from its last log line like ``read_status`` does (``TASK OK`` -> ``OK``, ``TASK WARNINGS: n``
-> ``WARNINGS: n``, ``TASK ERROR: msg`` -> ``msg``, anything else ``unexpected status``).
"""

from __future__ import annotations

import itertools
import re
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from felhom_provider.sim.persist import atomic_write_json, read_json

UPID_RE = re.compile(
    r"^UPID:([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?):([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8,9}):"
    r"([0-9A-Fa-f]{8}):([^:\s/]+):([^:\s/]*):([^:\s/]+):$"
)


def encode_upid(
    node: str, *, pid: int, pstart: int, starttime: int, ttype: str, tid: str, user: str
) -> str:
    """Build a UPID string exactly as PVE prints it."""
    return f"UPID:{node}:{pid:08X}:{pstart:08X}:{starttime:08X}:{ttype}:{tid}:{user}:"


def exitstatus_of(last_line: str) -> str:
    """``read_status``: map a final log line to the exitstatus the API reports."""
    if last_line == "TASK OK":
        return "OK"
    m = re.fullmatch(r"TASK (WARNINGS: \d+)", last_line)
    if m:
        return m.group(1)
    if last_line.startswith("TASK ERROR: "):
        return last_line[len("TASK ERROR: ") :]
    return "unexpected status"


@dataclass
class Task:
    """One worker task; ``lines`` is its log, the last line set when it stops."""

    upid: str
    node: str
    pid: int
    pstart: int
    starttime: int
    type: str
    id: str
    user: str
    status: str = "running"
    endtime: int | None = None
    lines: list[str] = field(default_factory=list)

    @property
    def exitstatus(self) -> str | None:
        """Exit status once stopped (None while running)."""
        if self.status != "stopped":
            return None
        return exitstatus_of(self.lines[-1] if self.lines else "")

    def status_json(self) -> dict[str, Any]:
        """``GET …/tasks/{upid}/status``; token tasks report the user plus ``tokenid``."""
        user, _, token = self.user.partition("!")
        res: dict[str, Any] = {
            "upid": self.upid,
            "node": self.node,
            "pid": self.pid,
            "pstart": self.pstart,
            "starttime": self.starttime,
            "type": self.type,
            "id": self.id,
            "user": user,
            "status": self.status,
        }
        if token:
            res["tokenid"] = token
        if self.status == "stopped":
            res["exitstatus"] = self.exitstatus
        return res

    def list_json(self) -> dict[str, Any]:
        """An item of ``GET /nodes/{node}/tasks`` (``status`` only once finished)."""
        res: dict[str, Any] = {
            "upid": self.upid,
            "node": self.node,
            "pid": self.pid,
            "pstart": self.pstart,
            "starttime": self.starttime,
            "type": self.type,
            "id": self.id,
            "user": self.user,
        }
        if self.status == "stopped":
            res["status"] = self.exitstatus
            res["endtime"] = self.endtime
        return res


class TaskRegistry:
    """All tasks of the node, persisted one file per task under ``<state>/tasks``."""

    def __init__(self, node: str, directory: Path, boot_time: float) -> None:
        self.node = node
        self.directory = directory
        self.boot_time = boot_time
        self._lock = threading.RLock()
        self._tasks: dict[str, Task] = {}
        self._pids = itertools.count(0x2000)
        self.directory.mkdir(parents=True, exist_ok=True)

    def _path(self, upid: str) -> Path:
        return self.directory / (
            upid.replace(":", "_").replace("!", "+").replace("@", "=") + ".json"
        )

    def load(self) -> list[Task]:
        """Load tasks from disk; any still ``running`` died with the old process.

        Their log gets no final ``TASK`` line, so, as in PVE, they read ``unexpected status``.
        Returns those interrupted tasks.
        """
        died: list[Task] = []
        max_pid = 0x2000
        for path in sorted(self.directory.glob("*.json")):
            data = read_json(path)
            if not isinstance(data, dict):
                continue
            task = Task(**data)
            if task.status == "running":
                task.status = "stopped"
                task.endtime = task.starttime
                self._save(task)
                died.append(task)
            self._tasks[task.upid] = task
            max_pid = max(max_pid, task.pid + 1)
        self._pids = itertools.count(max_pid)
        return died

    def _save(self, task: Task) -> None:
        atomic_write_json(self._path(task.upid), asdict(task))

    def create(self, ttype: str, tid: str, user: str, now: float) -> Task:
        """Register a new running task and persist it."""
        with self._lock:
            pid = next(self._pids)
            pstart = int((now - self.boot_time) * 100) + pid  # jiffies since "boot", unique
            upid = encode_upid(
                self.node,
                pid=pid,
                pstart=pstart,
                starttime=int(now),
                ttype=ttype,
                tid=tid,
                user=user,
            )
            task = Task(upid, self.node, pid, pstart, int(now), ttype, tid, user)
            self._tasks[upid] = task
            self._save(task)
            return task

    def log(self, task: Task, line: str) -> None:
        """Append a log line (kept in memory; written when the task stops)."""
        with self._lock:
            task.lines.append(line)

    def finish(self, task: Task, now: float, error: str | None = None, warnings: int = 0) -> None:
        """Stop the task with ``TASK OK``, ``TASK WARNINGS: n`` or ``TASK ERROR: <error>``."""
        with self._lock:
            if task.status == "stopped":
                return
            if error is not None:
                # fork_worker chomps the error and turns newlines into spaces.
                task.lines.append("TASK ERROR: " + error.rstrip("\n").replace("\n", " "))
            elif warnings:
                task.lines.append(f"TASK WARNINGS: {warnings}")
            else:
                task.lines.append("TASK OK")
            task.status = "stopped"
            task.endtime = int(now)
            self._save(task)

    def get(self, upid: str) -> Task | None:
        """The task with this UPID, if known."""
        with self._lock:
            return self._tasks.get(upid)

    def all(self) -> list[Task]:
        """Every task, newest first."""
        with self._lock:
            return sorted(self._tasks.values(), key=lambda t: (t.starttime, t.pid), reverse=True)

    def running(self) -> list[Task]:
        """Tasks not yet stopped."""
        with self._lock:
            return [t for t in self._tasks.values() if t.status == "running"]
