"""The request object handlers receive, and the handler type.

Handlers are thin: they read ``req.params`` (already verified against the endpoint's
declared parameters), call one rule with ``req.state`` and ``req.actor`` and return the
value that becomes ``{"data": …}``. The control API's handlers (``/_sim/…``) also use
``req.sim``: the running simulator's control surface, typed by the ``SimControl``
protocol so that this module does not import the server that imports the handlers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from felhom_provider.sim.faults import HttpFault, TaskFault
    from felhom_provider.sim.state import SimState


class SimControl(Protocol):
    """The in-process control methods the ``/_sim`` handlers mirror (``SimServer`` has them)."""

    def audit(self) -> dict[str, Any]:
        """Every CT with its config, leases, collisions, tasks and locks."""
        ...

    def add_http_fault(self, method: str, path: str, **kw: Any) -> HttpFault:
        """Add an HTTP fault rule."""
        ...

    def add_task_fault(
        self, type: str, exitstatus: str, *, vmid: int | None = None, times: int | None = 1
    ) -> TaskFault:
        """Add a task fault rule."""
        ...

    def hold_lock(self, vmid: int, seconds: float) -> None:
        """Hold a CT's config flock for ``seconds`` of clock time."""
        ...

    def advance(self, seconds: float) -> int:
        """Move a manual clock forward; the number of completions that ran."""
        ...

    def reload_state(self) -> None:
        """Reload the state from disk under the running listener."""
        ...

    def break_docker(self, volid: str) -> None:
        """Rewrite a backup archive so its Docker fails to start after a restore."""
        ...


@dataclass
class ApiRequest:
    """One verified API call: who, what, with which typed parameters."""

    sim: SimControl
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
