"""The simulator-only control API under ``/api2/json/_sim/…`` (a path PVE does not have).

Only the simulator's admin token (``tokens.admin`` in ``endpoint.json``; a token with no
ACL, so it has no PVE privilege) may use it: every PVE identity, root@pam included, gets
403. It mirrors ``SimServer``'s in-process methods:

* ``GET /_sim/audit``: CTs, MACs, L2 collisions, request counters, running tasks, locks;
* ``GET /_sim/faults``, ``DELETE /_sim/faults`` (clear), ``DELETE /_sim/faults/{id}``;
* ``POST /_sim/faults/http``: method, path, action (error|drop|drop-after|delay), status, message,
  times (0 = unlimited), probability, delay;
* ``POST /_sim/faults/task``: type, exitstatus, vmid, times (0 = unlimited);
* ``POST /_sim/locks/{vmid}``: hold the CT's config flock for ``seconds``;
* ``POST /_sim/clock/advance``: move a manual clock by ``seconds``;
* ``POST /_sim/restart``: reload the state from disk as if the daemon had died (running
  tasks end failed; faults are cleared).
"""

from __future__ import annotations

from typing import Any

from felhom_provider.sim.params import Spec
from felhom_provider.sim.request import ApiRequest


def _opt(type_: str, **kw: Any) -> Spec:
    return {"type": type_, "optional": 1, **kw}


SIM_PARAMS: dict[tuple[str, str], dict[str, Spec]] = {
    ("GET", "/_sim/audit"): {},
    ("GET", "/_sim/faults"): {},
    ("DELETE", "/_sim/faults"): {},
    ("DELETE", "/_sim/faults/{id}"): {"id": {"type": "integer", "minimum": 1}},
    ("POST", "/_sim/faults/http"): {
        "method": {"type": "string", "pattern": r"\*|GET|POST|PUT|DELETE"},
        "path": {"type": "string"},
        "action": _opt("string", enum=["error", "drop", "drop-after", "delay"]),
        "status": _opt("integer", minimum=100, maximum=599),
        "message": _opt("string"),
        "times": _opt("integer", minimum=0),
        "probability": _opt("number", minimum=0, maximum=1),
        "delay": _opt("number", minimum=0),
    },
    ("POST", "/_sim/faults/task"): {
        "type": {"type": "string"},
        "exitstatus": {"type": "string"},
        "vmid": _opt("integer", minimum=100),
        "times": _opt("integer", minimum=0),
    },
    ("POST", "/_sim/locks/{vmid}"): {
        "vmid": {"type": "integer", "minimum": 100},
        "seconds": {"type": "number"},
    },
    ("POST", "/_sim/clock/advance"): {"seconds": {"type": "number", "minimum": 0}},
    ("POST", "/_sim/restart"): {},
}


def audit(req: ApiRequest) -> dict[str, Any]:
    """The audit view (see ``SimServer.audit``)."""
    return req.sim.audit()


def faults(req: ApiRequest) -> dict[str, Any]:
    """Installed fault rules with hit counts."""
    return req.state.faults.to_json()


def clear_faults(req: ApiRequest) -> None:
    """Remove all fault rules."""
    req.state.faults.clear()


def remove_fault(req: ApiRequest) -> bool:
    """Remove one rule; true if it existed."""
    return req.state.faults.remove(int(req.params["id"]))


def add_http_fault(req: ApiRequest) -> dict[str, Any]:
    """Install an HTTP fault rule."""
    p = dict(req.params)
    times = p.pop("times", 1)
    rule = req.sim.add_http_fault(
        str(p.pop("method")), str(p.pop("path")), times=times or None, **p
    )
    return rule.__dict__


def add_task_fault(req: ApiRequest) -> dict[str, Any]:
    """Install a task fault rule."""
    p = req.params
    times = p.get("times", 1)
    rule = req.sim.add_task_fault(
        str(p["type"]), str(p["exitstatus"]), vmid=p.get("vmid"), times=times or None
    )
    return rule.__dict__


def hold_lock(req: ApiRequest) -> None:
    """Hold a CT's config flock."""
    req.sim.hold_lock(int(req.params["vmid"]), float(req.params["seconds"]))


def advance(req: ApiRequest) -> int:
    """Advance a manual clock; returns how many due events ran."""
    return req.sim.advance(float(req.params["seconds"]))


def restart(req: ApiRequest) -> None:
    """Reload the state from disk (the HTTP listener stays)."""
    req.sim.reload_state()
