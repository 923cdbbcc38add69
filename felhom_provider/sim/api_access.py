"""Handlers for ``/access/…`` and the node/cluster basics (``/version``, ``/nodes``, nextid).

``POST /access/ticket`` is answered by the server before authentication (see ``server.py``)
because it *is* the authentication; ``login`` here builds its answer.
"""

from __future__ import annotations

from typing import Any

from felhom_provider.sim import nodeinfo
from felhom_provider.sim.request import ApiRequest


def login(req: ApiRequest) -> dict[str, Any]:
    """``POST /access/ticket``: root@pam password (or ticket renewal) login.

    Not imitated: TFA, realms other than pam/pve, the ``cap`` map's full content (only the
    keys are present), ``new-format`` differences, login for users other than root@pam.
    """
    p = req.params
    user = req.state.auth.login(str(p["username"]), str(p["password"]), p.get("realm"))
    ticket, csrf = req.state.auth.issue_ticket(user)
    return {
        "username": user,
        "ticket": ticket,
        "CSRFPreventionToken": csrf,
        "cap": {
            "vms": {},
            "storage": {},
            "access": {},
            "nodes": {},
            "dc": {},
            "sdn": {},
            "mapping": {},
        },
    }


def permissions(req: ApiRequest) -> dict[str, Any]:
    """``GET /access/permissions``.

    Not imitated: pool members, groups, the propagate bit (always 1).
    """
    p = req.params
    return nodeinfo.permissions(req.state, req.actor, p.get("path"), p.get("userid"))


def version(req: ApiRequest) -> dict[str, Any]:
    """``GET /version``. Not imitated: ``console`` (absent)."""
    return nodeinfo.version(req.state, req.actor)


def nodes(req: ApiRequest) -> list[dict[str, Any]]:
    """``GET /nodes``: the single simulated node. Not imitated: real load figures."""
    return nodeinfo.nodes(req.state, req.actor)


def nextid(req: ApiRequest) -> str:
    """``GET /cluster/nextid``: a string, as PVE answers. Not imitated: datacenter.cfg range."""
    vmid = req.params.get("vmid")
    return nodeinfo.nextid(req.state, req.actor, int(vmid) if vmid is not None else None)
