"""Injected faults: HTTP answers, dropped connections, delays and failing tasks.

Faults are rules the control API (``/api2/json/_sim/faults``), the CLI and in-process tests
install. An HTTP rule matches a method and a path (the route template such as
``/nodes/{node}/lxc/{vmid}/config``, or a regular expression matched against the concrete
path) and then, for ``times`` requests or with a ``probability``:

* ``error``: answers ``status`` with ``message`` (PVE-shaped, reason = first line);
* ``drop``: closes the connection without an answer (after the request was read, so the
  client cannot know whether it ran; the request is *not* executed);
* ``drop-after``: executes the request, then closes the connection without the answer
  (the client lost the answer of a request that did run: a task may exist);
* ``delay``: waits ``delay`` seconds, then handles the request normally.

``error`` and ``drop`` may also carry a ``delay``. A task rule makes the next ``times``
tasks of a type (optionally for one VMID) end with the given exitstatus.

Named presets (``PRESETS``, ``Faults.install_preset``, ``serve --faults NAME``) install a
whole profile at once with a seeded random generator, so a run is repeatable: the n-th
request that reaches the rules sees the same draw for the same seed. (Which request is the
n-th depends on thread scheduling, so two runs of a concurrent fleet see the same *rates*
and the same sequence of draws, not necessarily the same faults on the same guest.)
"""

from __future__ import annotations

import itertools
import random
import re
import threading
from dataclasses import asdict, dataclass
from typing import Any

ACTIONS = ("error", "drop", "drop-after", "delay")


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

    def install_preset(self, name: str, seed: int = 0) -> list[HttpFault]:
        """Install the named profile (``PRESETS``) and reseed the generator with ``seed``."""
        if name not in PRESETS:
            raise ValueError(f"unknown fault preset {name!r}; known: {', '.join(PRESETS)}")
        with self._lock:
            self._rng = random.Random(seed)
        return [self.add_http(r["method"], r["path"], **r["rule"]) for r in PRESETS[name]]

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


# PVE's own words for a config lock it could not take in 10 s (pve-common ``PVE/Tools.pm``
# ``lock_file_full``); the id in the path does not matter to a client.
_LOCK_MSG = "can't lock file '/run/lock/lxc/pve-config-100.lock' - got timeout"
_LXC = r"/nodes/[^/]+/lxc(?:/.*)?"
_MUTATING = ("POST", "PUT", "DELETE")


def _rule(method: str, path: str, **rule: Any) -> dict[str, Any]:
    return {"method": method, "path": path, "rule": {"times": None, **rule}}


#: Named fault profiles. ``transient-fleet`` is what a busy node and a lossy network do to a
#: fleet rollout: every fault in it is transient, so a correct client converges in one run.
PRESETS: dict[str, list[dict[str, Any]]] = {
    "transient-fleet": [
        # Slow answers first: a delay rule that fires lets the request through unharmed.
        _rule("*", r"/.*", action="delay", delay=0.15, probability=0.05),
        # Lost connections before PVE handled the request (not executed) ...
        _rule("POST", "/nodes/{node}/lxc", action="drop", probability=0.08),
        _rule("POST", "/nodes/{node}/lxc/{vmid}/status/start", action="drop", probability=0.06),
        _rule("PUT", "/nodes/{node}/lxc/{vmid}/config", action="drop", probability=0.04),
        # ... and after it did (executed, answer lost).
        _rule("POST", "/nodes/{node}/lxc", action="drop-after", probability=0.06),
        _rule(
            "POST", "/nodes/{node}/lxc/{vmid}/status/start", action="drop-after", probability=0.06
        ),
        _rule("PUT", "/nodes/{node}/lxc/{vmid}/config", action="drop-after", probability=0.04),
        *[
            _rule(method, _LXC, status=500, message=_LOCK_MSG, probability=0.12)
            for method in _MUTATING
        ],
        # Reads answered 5xx (a pvedaemon worker restarting) or dropped.
        _rule(
            "GET",
            "/nodes/{node}/lxc/{vmid}/interfaces",
            status=500,
            probability=0.10,
            message="unable to get interfaces: worker restarting",
        ),
        _rule(
            "GET",
            "/nodes/{node}/lxc/{vmid}/config",
            status=500,
            probability=0.05,
            message="unable to read config: worker restarting",
        ),
        _rule(
            "GET",
            "/nodes/{node}/lxc/{vmid}/status/current",
            status=500,
            probability=0.05,
            message="unable to read status: worker restarting",
        ),
        _rule(
            "GET",
            "/nodes/{node}/tasks/{upid}/status",
            status=500,
            probability=0.05,
            message="unable to read task status: worker restarting",
        ),
        _rule(
            "GET",
            "/nodes/{node}/tasks",
            status=503,
            probability=0.05,
            message="Service Unavailable",
        ),
        _rule("GET", r"/.*", action="drop", probability=0.02),
    ],
}
