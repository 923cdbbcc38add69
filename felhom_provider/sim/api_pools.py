"""Handlers for ``/pools`` (thin wrappers over ``pools``).

PVE 8.1 moved single-pool calls to ``/pools`` with a ``poolid`` parameter and kept the
``/pools/{poolid}`` forms as deprecated aliases; both are served.
"""

from __future__ import annotations

from typing import Any

from felhom_provider.sim import pools
from felhom_provider.sim.request import ApiRequest


def index(req: ApiRequest) -> list[dict[str, Any]]:
    """``GET /pools``. Not imitated: RRD figures of members (zeros)."""
    p = req.params
    return pools.index(req.state, req.actor, p.get("poolid"), p.get("type"))


def read(req: ApiRequest) -> dict[str, Any]:
    """``GET /pools/{poolid}`` (deprecated alias)."""
    return pools.read(req.state, req.actor, str(req.params["poolid"]), req.params.get("type"))


def create(req: ApiRequest) -> None:
    """``POST /pools``."""
    pools.create(req.state, req.actor, str(req.params["poolid"]), req.params.get("comment"))


def update(req: ApiRequest) -> None:
    """``PUT /pools`` and ``PUT /pools/{poolid}``."""
    pools.update(req.state, req.actor, req.params)


def delete(req: ApiRequest) -> None:
    """``DELETE /pools`` and ``DELETE /pools/{poolid}``."""
    pools.delete(req.state, req.actor, str(req.params["poolid"]))
