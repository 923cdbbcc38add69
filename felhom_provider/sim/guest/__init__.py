"""Simulated Debian 13 guests for the PVE simulator (see docs/simulator-guests.md).

Public API:

* :class:`GuestModel` (``model``): filesystem, packages, Docker images, runtime; JSON payload
  via ``to_payload``/``from_payload``; :class:`CtFacts` is what the guest sees of its config.
* ``boot.start`` / ``boot.stop`` / ``boot.facts_from_config``: start and stop semantics.
* ``shell.run(model, argv, stdin)``: the command interpreter (``pct exec``).
* ``template.create_from_template``: PVE's create hook on the Debian 13 template.
* :class:`SimGuestHooks` (``hooks``): the simulator's ``GuestHooks`` implementation plus
  ``exec`` for ``pct exec``.
* ``register(ext)``: called by the simulator's entry point to install the hooks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from felhom_provider.sim.guest.hooks import GuestNotRunningError, SimGuestHooks, SshdView
from felhom_provider.sim.guest.model import CtFacts, GuestModel
from felhom_provider.sim.guest.registry import Result

if TYPE_CHECKING:
    from felhom_provider.sim.hooks import Extensions

__all__ = [
    "CtFacts",
    "GuestModel",
    "GuestNotRunningError",
    "Result",
    "SimGuestHooks",
    "SshdView",
    "register",
]


def register(ext: Extensions) -> None:
    """Install the guest model as the simulator's guest hooks."""
    ext.hooks = SimGuestHooks()
