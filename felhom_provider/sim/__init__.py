"""A clean-room, file-backed simulator of the Proxmox VE 9 API for LXC guests.

Layout (moto-style), imports one way: the node's state without rules (``state``, over the
records ``storage``, ``network``, ``poolcfg``, ``auth``, ``tasks``, ``clock``, ``locks``,
``faults``), rule modules that take the state (``lxc_create``, ``lxc_config``,
``lxc_pending``, ``lxc_power``, ``lxc_move``, ``backup``, ``pools``, ``node_boot``,
``nodeinfo``), thin handlers (``api_*``) and the node shell calling those rules, a route table
(``routes``) and the HTTPS server (``server``). Start it with
``python -m felhom_provider.sim serve --state-dir DIR`` or in-process with ``SimServer``.
See docs/simulator.md.
"""

from __future__ import annotations

from felhom_provider.sim.hookbase import GuestHooks
from felhom_provider.sim.hooks import Extensions
from felhom_provider.sim.server import SimServer
from felhom_provider.sim.state import SimSettings, SimState

__all__ = ["Extensions", "GuestHooks", "SimServer", "SimSettings", "SimState"]
