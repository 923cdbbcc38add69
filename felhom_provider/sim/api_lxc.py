"""Handlers for ``/nodes/{node}/lxc/…``: thin wrappers over the CT rule modules.

Each docstring names what the handler does not imitate; the rules' own gaps are listed in
``lxc_create``, ``lxc_config`` and ``lxc_power``.
"""

from __future__ import annotations

from typing import Any

from felhom_provider.sim import lxc_config, lxc_create, lxc_move, lxc_pending, lxc_power
from felhom_provider.sim.request import ApiRequest


def index(req: ApiRequest) -> list[dict[str, Any]]:
    """``GET /nodes/{node}/lxc``. Not imitated: live CPU/memory/network counters (zeros)."""
    req.node()
    return lxc_power.list_cts(req.state, req.actor)


def create(req: ApiRequest) -> str:
    """``POST /nodes/{node}/lxc``. Not imitated: ``pool``, ``ha-managed``, ``bwlimit`` effects."""
    req.node()
    return lxc_create.create_ct(req.state, req.actor, req.params)


def destroy(req: ApiRequest) -> str:
    """``DELETE /nodes/{node}/lxc/{vmid}``.

    Not imitated: ``purge`` (no backup jobs, HA or replication exist to purge).
    """
    req.node()
    return lxc_power.destroy(
        req.state,
        req.actor,
        req.vmid(),
        force=req.flag("force"),
        unreferenced=req.flag("destroy-unreferenced-disks"),
    )


def get_config(req: ApiRequest) -> dict[str, Any]:
    """``GET …/config`` (pending values merged in unless ``current=1``).

    Not imitated: ``snapshot`` (no snapshots exist).
    """
    req.node()
    return lxc_pending.get_config(
        req.state, req.actor, req.vmid(), current_only=req.flag("current")
    )


def pending(req: ApiRequest) -> list[dict[str, Any]]:
    """``GET …/pending``. Not imitated: forced deletes (``delete: 2``)."""
    req.node()
    return lxc_pending.get_pending(req.state, req.actor, req.vmid())


def set_config(req: ApiRequest) -> None:
    """``PUT …/config``. Not imitated: hot-plug failures (every hot-plug succeeds)."""
    req.node()
    lxc_config.set_config(req.state, req.actor, req.vmid(), req.params)


def resize(req: ApiRequest) -> str:
    """``PUT …/resize``. Not imitated: file-system resize failures (warnings in PVE)."""
    req.node()
    p = req.params
    return lxc_config.resize(
        req.state, req.actor, req.vmid(), str(p["disk"]), str(p["size"]), digest=p.get("digest")
    )


def move_volume(req: ApiRequest) -> str:
    """``POST …/move_volume``. Not imitated: moves to another storage, ``bwlimit``."""
    req.node()
    return lxc_move.move_volume(req.state, req.actor, req.vmid(), req.params)


def start(req: ApiRequest) -> str:
    """``POST …/status/start``. Not imitated: ``debug`` logging, HA-managed starts."""
    req.node()
    return lxc_power.start(req.state, req.actor, req.vmid(), req.flag("skiplock"))


def stop(req: ApiRequest) -> str:
    """``POST …/status/stop``. Not imitated: ``overrule-shutdown`` (no shutdown tasks to abort)."""
    req.node()
    return lxc_power.stop(req.state, req.actor, req.vmid(), skiplock=req.flag("skiplock"))


def shutdown(req: ApiRequest) -> str:
    """``POST …/status/shutdown``. Not imitated: a guest ignoring the request (``timeout``)."""
    req.node()
    return lxc_power.stop(req.state, req.actor, req.vmid(), shutdown=True)


def status_current(req: ApiRequest) -> dict[str, Any]:
    """``GET …/status/current``. Not imitated: pressure stall figures, real counters."""
    req.node()
    return lxc_power.status_current(req.state, req.actor, req.vmid())


def interfaces(req: ApiRequest) -> list[dict[str, Any]] | None:
    """``GET …/interfaces``. Not imitated: SLAAC/DHCPv6 addresses (static ``ip6`` only)."""
    req.node()
    return lxc_power.interfaces(req.state, req.actor, req.vmid())


def template(req: ApiRequest) -> None:
    """``POST …/template``. Not imitated: snapshots check (none exist)."""
    req.node()
    lxc_power.template(req.state, req.actor, req.vmid())
