"""The request object handlers receive, and the handler type.

Handlers are thin: they read ``req.params`` (already verified against the endpoint's
declared parameters), call one ``SimState`` operation with ``req.actor`` and return the
value that becomes ``{"data": …}``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from felhom_provider.sim.server import SimServer
    from felhom_provider.sim.state import SimState


@dataclass
class ApiRequest:
    """One verified API call: who, what, with which typed parameters."""

    sim: SimServer
    state: SimState
    actor: str
    method: str
    path: str
    template: str
    params: dict[str, Any]

    def node(self) -> str:
        """The ``{node}`` path parameter, checked against the simulated node."""
        node = str(self.params.get("node", self.state.node))
        self.state.check_node(node)
        return node

    def vmid(self) -> int:
        """The ``{vmid}`` path parameter as an int."""
        return int(self.params["vmid"])

    def flag(self, name: str) -> bool:
        """A boolean parameter (absent = false)."""
        return bool(self.params.get(name))


Handler = Callable[[ApiRequest], Any]
