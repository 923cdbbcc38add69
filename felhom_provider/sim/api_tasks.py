"""Handlers for ``/nodes/{node}/tasks``: list, status, log.

Visibility follows pve-manager ``PVE/API2/Tasks.pm``: the owner reads its tasks (a user also
those of its tokens, a token only its own); anyone else needs ``Sys.Audit`` on
``/nodes/<node>``.
"""

from __future__ import annotations

from typing import Any

from felhom_provider.sim.errors import ParamError
from felhom_provider.sim.request import ApiRequest
from felhom_provider.sim.tasks import UPID_RE, Task


def _may_read(req: ApiRequest, task: Task) -> bool:
    if task.user == req.actor or ("!" not in req.actor and task.user.split("!")[0] == req.actor):
        return True
    return req.state.auth.has(req.actor, f"/nodes/{req.state.node}", "Sys.Audit")


def _task(req: ApiRequest) -> Task:
    upid = str(req.params["upid"])
    if not UPID_RE.match(upid):
        raise ParamError({"upid": "unable to parse worker upid"})
    task = req.state.tasks.get(upid)
    if task is None:
        raise ParamError({"upid": "no such task"})
    if not _may_read(req, task):
        req.state.auth.check(req.actor, f"/nodes/{req.state.node}", ["Sys.Audit"])
    return task


def status(req: ApiRequest) -> dict[str, Any]:
    """``GET …/tasks/{upid}/status``. Not imitated: nothing known missing."""
    req.node()
    return _task(req).status_json()


def log(req: ApiRequest) -> list[dict[str, Any]]:
    """``GET …/tasks/{upid}/log`` (``start``, ``limit`` default 50, 0 = all).

    Not imitated: ``download`` (accepted, answers JSON like without it), the ``total``
    attribute PVE puts beside ``data``.
    """
    req.node()
    task = _task(req)
    lines = list(task.lines)
    if not lines:
        return [{"n": 1, "t": "no content"}]
    start = int(req.params.get("start", 0))
    limit = int(req.params.get("limit", 50))
    chosen = lines[start:] if limit == 0 else lines[start : start + limit]
    return [{"n": start + i + 1, "t": text} for i, text in enumerate(chosen)]


def index(req: ApiRequest) -> list[dict[str, Any]]:
    """``GET /nodes/{node}/tasks``: newest first, filtered by visibility and parameters.

    Not imitated: ``since``/``until``/``statusfilter``; ``source`` only distinguishes
    running (active) from all.
    """
    req.node()
    p = req.params
    tasks = [t for t in req.state.tasks.all() if _may_read(req, t)]
    if "vmid" in p:
        tasks = [t for t in tasks if t.id == str(p["vmid"])]
    if "typefilter" in p:
        tasks = [t for t in tasks if t.type == p["typefilter"]]
    if "userfilter" in p:
        tasks = [t for t in tasks if str(p["userfilter"]) in t.user]
    if p.get("source") == "active":
        tasks = [t for t in tasks if t.status == "running"]
    if p.get("errors"):
        tasks = [t for t in tasks if t.status == "stopped" and t.exitstatus != "OK"]
    start, limit = int(p.get("start", 0)), int(p.get("limit", 50))
    chosen = tasks[start:] if limit == 0 else tasks[start : start + limit]
    return [t.list_json() for t in chosen]
