"""Extension points: extra services started with the server, and how they are found.

``Extensions`` bundles the guest hooks (``GuestHooks``, defined in ``hookbase`` and
re-exported here) with a list of services (for example a node SSH shell) that start after
the HTTP API and may add keys to ``endpoint.json``. A service sees the running simulator
through ``RunningSim``: its current ``state`` (swapped by a control-API restart). A module
can offer itself to ``python -m felhom_provider.sim serve`` by defining
``register(ext: Extensions)``; the entry point imports ``felhom_provider.sim.guest`` and
``felhom_provider.sim.nodeshell`` when they exist and calls their ``register``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from felhom_provider.sim.hookbase import GuestHooks

if TYPE_CHECKING:
    from felhom_provider.sim.state import SimState

__all__ = [
    "DEFAULT_EXTENSION_MODULES",
    "Extensions",
    "ExtraService",
    "GuestHooks",
    "RunningSim",
    "load_extensions",
]


class RunningSim(Protocol):
    """What a service may use of the running simulator (``SimServer`` is one)."""

    @property
    def state(self) -> SimState:
        """The node's current state (a new object after a control-API restart)."""
        ...


class ExtraService(Protocol):
    """A service started after the API; ``start`` returns keys to add to endpoint.json."""

    def start(self, sim: RunningSim) -> dict[str, Any]:
        """Start serving; return extra endpoint.json keys."""
        ...

    def stop(self) -> None:
        """Stop serving (called before the API stops)."""
        ...


@dataclass
class Extensions:
    """Guest hooks plus extra services for one simulator instance."""

    hooks: GuestHooks = field(default_factory=GuestHooks)
    services: list[ExtraService] = field(default_factory=list)


DEFAULT_EXTENSION_MODULES = ("felhom_provider.sim.guest", "felhom_provider.sim.nodeshell")


def load_extensions(modules: tuple[str, ...] = DEFAULT_EXTENSION_MODULES) -> Extensions:
    """Build ``Extensions`` from every module in ``modules`` that exists and has ``register``."""
    ext = Extensions()
    for name in modules:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and name.startswith(exc.name):
                continue
            raise
        register = getattr(mod, "register", None)
        if callable(register):
            register(ext)
    return ext
