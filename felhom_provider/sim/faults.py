"""Injected faults: HTTP answers, dropped connections, delays and failing tasks.

Faults are rules the control API (``/api2/json/_sim/faults``), the CLI and in-process tests
install. An HTTP rule matches a method and a path (the route template such as
``/nodes/{node}/lxc/{vmid}/config``, or a regular expression matched against the concrete
path) and then, for ``times`` requests or with a ``probability``:

* ``error``: answers ``status`` with ``message`` (PVE-shaped, reason = first line);
* ``drop``: closes the connection without an answer (after the request was read, so the
  client cannot know whether it ran; the request is *not* executed);
* ``delay``: waits ``delay`` seconds, then handles the request normally.

``error`` and ``drop`` may also carry a ``delay``. A task rule makes the next ``times``
tasks of a type (optionally for one VMID) end with the given exitstatus.
"""

from __future__ import annotations

import itertools
import random
import re
import threading
from dataclasses import asdict, dataclass
from typing import Any

ACTIONS = ("error", "drop", "delay")


@dataclass
class HttpFault:
    """One HTTP fault rule."""

    id: int
    method: str
    path: str
    action: str = "error"
    status: int = 500
    message: str = "simulated fault"
    times: int | None = 1
    probability: float = 1.0
    delay: float = 0.0
    hits: int = 0

    def matches(self, method: str, path: str, template: str | None) -> bool:
        """True when the method and the path (template or regex) match."""
        if self.method not in ("*", method.upper()):
            return False
        if template is not None and self.path == template:
            return True
        return re.fullmatch(self.path, path) is not None


@dataclass
class TaskFault:
    """Make tasks of ``type`` (for ``vmid``, or any) end with ``exitstatus``."""

    id: int
    type: str
    exitstatus: str
    vmid: int | None = None
    times: int | None = 1
    hits: int = 0


class Faults:
    """The installed fault rules; thread-safe, counts consume atomically."""

    def __init__(self, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._rng = random.Random(seed)
        self.http: list[HttpFault] = []
        self.tasks: list[TaskFault] = []

    def add_http(self, method: str, path: str, **kw: Any) -> HttpFault:
        """Install an HTTP rule; ``kw`` are ``HttpFault`` fields."""
        if kw.get("action", "error") not in ACTIONS:
            raise ValueError(f"action must be one of {', '.join(ACTIONS)}")
        re.compile(path)
        with self._lock:
            rule = HttpFault(next(self._ids), method.upper(), path, **kw)
            self.http.append(rule)
            return rule

    def add_task(
        self, type: str, exitstatus: str, vmid: int | None = None, times: int | None = 1
    ) -> TaskFault:
        """Install a task rule."""
        with self._lock:
            rule = TaskFault(next(self._ids), type, exitstatus, vmid, times)
            self.tasks.append(rule)
            return rule

    def match_http(self, method: str, path: str, template: str | None) -> HttpFault | None:
        """The first rule that fires for this request (consuming one of its ``times``)."""
        with self._lock:
            for rule in self.http:
                if rule.times is not None and rule.times <= 0:
                    continue
                if not rule.matches(method, path, template):
                    continue
                if rule.probability < 1.0 and self._rng.random() >= rule.probability:
                    continue
                rule.hits += 1
                if rule.times is not None:
                    rule.times -= 1
                return HttpFault(**asdict(rule))
        return None

    def match_task(self, ttype: str, vmid: int | None) -> str | None:
        """Exitstatus a task must end with, if a rule fires for it."""
        with self._lock:
            for rule in self.tasks:
                if rule.times is not None and rule.times <= 0:
                    continue
                if rule.type != ttype or (rule.vmid is not None and rule.vmid != vmid):
                    continue
                rule.hits += 1
                if rule.times is not None:
                    rule.times -= 1
                return rule.exitstatus
        return None

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self.http.clear()
            self.tasks.clear()

    def remove(self, rule_id: int) -> bool:
        """Remove one rule by id; False if unknown."""
        with self._lock:
            before = len(self.http) + len(self.tasks)
            self.http = [r for r in self.http if r.id != rule_id]
            self.tasks = [r for r in self.tasks if r.id != rule_id]
            return len(self.http) + len(self.tasks) != before

    def to_json(self) -> dict[str, Any]:
        """All rules with their remaining counts and hits."""
        with self._lock:
            return {
                "http": [asdict(r) for r in self.http],
                "tasks": [asdict(r) for r in self.tasks],
            }
