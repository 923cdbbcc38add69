"""Simulator-only control calls for node and guest scenarios (under ``/api2/json/_sim/…``).

* ``POST /_sim/node/reboot``: every running CT stops, then PVE's boot-time ``startall`` task
  starts the ``onboot`` CTs in ``startup`` order with their ``up`` delays on the simulator
  clock (``node_boot``); answers ``{"upid": <startall UPID>}``.
* ``POST /_sim/archives/docker-broken`` (``volume``): turn a backup archive into the
  "new golden whose Docker is broken" variant (``guest.variants.break_docker``): a guest
  restored from it boots with ``docker.service`` failed and ``docker run`` exits 125.

Like the rest of the control API, any authenticated identity may call these.
"""

from __future__ import annotations

from typing import Any

from felhom_provider.sim import node_boot
from felhom_provider.sim.errors import SimApiError
from felhom_provider.sim.guest import variants
from felhom_provider.sim.params import Spec
from felhom_provider.sim.request import ApiRequest

SCENARIO_PARAMS: dict[tuple[str, str], dict[str, Spec]] = {
    ("POST", "/_sim/node/reboot"): {},
    ("POST", "/_sim/archives/docker-broken"): {"volume": {"type": "string"}},
}


def node_reboot(req: ApiRequest) -> dict[str, Any]:
    """Reboot the simulated node; answers the ``startall`` task's UPID."""
    return {"upid": node_boot.reboot(req.state)}


def break_docker(req: ApiRequest) -> dict[str, Any]:
    """Rewrite the archive's guest payload with Docker broken; answers the volume id."""
    volid = str(req.params["volume"])
    try:
        req.sim.break_docker(volid)
    except variants.VariantError as exc:
        raise SimApiError(f"cannot break Docker in '{volid}': {exc}") from None
    return {"volume": volid, "variant": "docker-broken"}
