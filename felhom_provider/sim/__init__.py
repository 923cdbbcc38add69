"""A clean-room, file-backed simulator of the Proxmox VE 9 API for LXC guests.

Layout (moto-style): rules and state without HTTP (``state``, ``lxc_create``,
``lxc_config``, ``lxc_power``, ``backup``, ``storage``, ``network``, ``auth``, ``tasks``,
``clock``, ``locks``, ``faults``, ``pctconf``, ``schema``/``params``), thin handlers
(``api_*``), a route table (``routes``) and the HTTPS server (``server``). Start it with
``python -m felhom_provider.sim serve --state-dir DIR`` or in-process with ``SimServer``.
See docs/simulator.md.
"""

from __future__ import annotations

from felhom_provider.sim.hooks import Extensions, GuestHooks
from felhom_provider.sim.server import SimServer
from felhom_provider.sim.state import SimSettings, SimState

__all__ = ["Extensions", "GuestHooks", "SimServer", "SimSettings", "SimState"]
