"""Node- and cluster-level reads: ``/version``, ``/nodes``, ``/cluster/nextid``, permissions.

Sources: pve-manager ``PVE/API2/Nodes.pm`` (``index``), ``PVE/API2/Cluster.pm``
(``nextid``: a string answer, ``VM <id> already exists``), pve-access-control
``PVE/API2/AccessControl.pm`` (``permissions``: another user's view needs ``Sys.Audit`` on
``/access``, a user may read their own tokens').

Not imitated: a cluster (one node only), the datacenter.cfg ``next-id`` range, real
load and memory figures.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from felhom_provider.sim.errors import ParamError, SimApiError

if TYPE_CHECKING:
    from felhom_provider.sim.state import SimState

PVE_VERSION = {"version": "9.1.2", "release": "9.1", "repoid": "7a9ed2b5f1d93c4e"}


def version(state: SimState, actor: str) -> dict[str, Any]:
    """``GET /version``."""
    return dict(PVE_VERSION)


def nodes(state: SimState, actor: str) -> list[dict[str, Any]]:
    """``GET /nodes``: this one node, online."""
    uptime = int(state.clock.now() - state.boot_time)
    return [
        {
            "node": state.node,
            "status": "online",
            "type": "node",
            "id": f"node/{state.node}",
            "maxcpu": 16,
            "cpu": 0.02,
            "maxmem": 64 << 30,
            "mem": 8 << 30,
            "uptime": uptime,
            "level": "",
            "ssl_fingerprint": "",
        }
    ]


def nextid(state: SimState, actor: str, vmid: int | None = None) -> str:
    """``GET /cluster/nextid``: advisory, answered as a string like PVE does."""
    with state.mutex:
        if vmid is not None:
            if vmid in state.cts:
                raise ParamError({"vmid": f"VM {vmid} already exists"})
            return str(vmid)
        for candidate in range(100, 1000000):
            if candidate not in state.cts:
                return str(candidate)
    raise SimApiError("unable to get any free VMID in range [100, 999999]")


def permissions(
    state: SimState, actor: str, path: str | None = None, userid: str | None = None
) -> dict[str, Any]:
    """``GET /access/permissions`` for the caller or an owned token.

    Anyone else's permissions need ``Sys.Audit`` on ``/access``.
    """
    target = userid or actor
    own = target == actor or (target.split("!")[0] == actor and "!" not in actor)
    if not own:
        state.auth.check(actor, "/access", ["Sys.Audit"])
    paths = [path] if path else state.auth.permission_paths()
    result: dict[str, Any] = {}
    for p in paths:
        privs = state.auth.privileges(target, p)
        if privs:
            result[p] = {priv: 1 for priv in sorted(privs)}
    return result
