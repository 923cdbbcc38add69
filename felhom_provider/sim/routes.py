"""The route table: (method, path template) -> handler and declared parameters.

Templates use PVE's ``{name}`` placeholders; ``{volume}`` and ``{upid}`` may contain
characters other segments may not (a volid carries ``/``). Anything not listed is answered
501 ``Method '<METHOD> <path>' not implemented``, as PVE does for unknown paths.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from felhom_provider.sim import (
    api_access,
    api_lxc,
    api_pools,
    api_sim,
    api_sim_scenarios,
    api_storage,
    api_tasks,
)
from felhom_provider.sim.params import ENDPOINT_PARAMS, OUTSIDE_SUBSET, Spec
from felhom_provider.sim.request import Handler

# vzdump options PVE has and the simulator refuses by name (see backup.py).
VZDUMP_NOT_IMPLEMENTED = frozenset(
    {
        "all",
        "bwlimit",
        "dumpdir",
        "exclude",
        "exclude-path",
        "fleecing",
        "ionice",
        "job-id",
        "mailnotification",
        "mailto",
        "maxfiles",
        "notification-mode",
        "pbs-change-detection-mode",
        "performance",
        "pigz",
        "pool",
        "prune-backups",
        "script",
        "stdout",
        "stop",
        "tmpdir",
    }
)


@dataclass
class Route:
    """One endpoint."""

    method: str
    template: str
    handler: Handler
    params: dict[str, Spec]
    public: bool = False
    not_implemented: frozenset[str] = frozenset()
    regex: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        def group(m: re.Match[str]) -> str:
            name = m.group(1)
            return f"(?P<{name}>.+)" if name == "volume" else f"(?P<{name}>[^/]+)"

        self.regex = re.compile("^" + re.sub(r"\{(\w+)\}", group, self.template) + "$")


def _r(method: str, template: str, handler: Handler, **kw: object) -> Route:
    key = (method, template)
    for table in (
        ENDPOINT_PARAMS,
        OUTSIDE_SUBSET,
        api_sim.SIM_PARAMS,
        api_sim_scenarios.SCENARIO_PARAMS,
    ):
        if key in table:
            spec = table[key]
            break
    else:
        raise KeyError(f"no parameters declared for {method} {template}")
    return Route(method, template, handler, spec, **kw)  # type: ignore[arg-type]


N = "/nodes/{node}"
CT = N + "/lxc/{vmid}"
ROUTES: list[Route] = [
    _r("POST", "/access/ticket", api_access.login, public=True),
    _r("GET", "/access/permissions", api_access.permissions),
    _r("GET", "/version", api_access.version),
    _r("GET", "/nodes", api_access.nodes),
    _r("GET", "/cluster/nextid", api_access.nextid),
    _r("GET", N + "/lxc", api_lxc.index),
    _r("POST", N + "/lxc", api_lxc.create),
    _r("DELETE", CT, api_lxc.destroy),
    _r("GET", CT + "/config", api_lxc.get_config),
    _r("PUT", CT + "/config", api_lxc.set_config),
    _r("GET", CT + "/pending", api_lxc.pending),
    _r("PUT", CT + "/resize", api_lxc.resize),
    _r("POST", CT + "/move_volume", api_lxc.move_volume, not_implemented=frozenset({"bwlimit"})),
    _r("POST", CT + "/status/start", api_lxc.start),
    _r("POST", CT + "/status/stop", api_lxc.stop),
    _r("POST", CT + "/status/shutdown", api_lxc.shutdown),
    _r("GET", CT + "/status/current", api_lxc.status_current),
    _r("GET", CT + "/interfaces", api_lxc.interfaces),
    _r("POST", CT + "/template", api_lxc.template),
    _r("GET", "/pools", api_pools.index),
    _r("POST", "/pools", api_pools.create),
    _r("PUT", "/pools", api_pools.update),
    _r("DELETE", "/pools", api_pools.delete),
    _r("GET", "/pools/{poolid}", api_pools.read),
    _r("PUT", "/pools/{poolid}", api_pools.update),
    _r("DELETE", "/pools/{poolid}", api_pools.delete),
    _r("GET", N + "/tasks", api_tasks.index),
    _r("GET", N + "/tasks/{upid}/status", api_tasks.status),
    _r("GET", N + "/tasks/{upid}/log", api_tasks.log),
    _r("POST", N + "/vzdump", api_storage.vzdump, not_implemented=VZDUMP_NOT_IMPLEMENTED),
    _r("GET", N + "/vzdump/extractconfig", api_storage.extractconfig),
    _r("GET", N + "/storage", api_storage.storage_index),
    _r("GET", N + "/storage/{storage}/content", api_storage.content),
    _r("PUT", N + "/storage/{storage}/content/{volume}", api_storage.update_attributes),
    _r("DELETE", N + "/storage/{storage}/content/{volume}", api_storage.delete_volume),
    _r("GET", "/_sim/audit", api_sim.audit),
    _r("GET", "/_sim/faults", api_sim.faults),
    _r("DELETE", "/_sim/faults", api_sim.clear_faults),
    _r("DELETE", "/_sim/faults/{id}", api_sim.remove_fault),
    _r("POST", "/_sim/faults/http", api_sim.add_http_fault),
    _r("POST", "/_sim/faults/task", api_sim.add_task_fault),
    _r("POST", "/_sim/locks/{vmid}", api_sim.hold_lock),
    _r("POST", "/_sim/clock/advance", api_sim.advance),
    _r("POST", "/_sim/restart", api_sim.restart),
    _r("POST", "/_sim/node/reboot", api_sim_scenarios.node_reboot),
    _r("POST", "/_sim/archives/docker-broken", api_sim_scenarios.break_docker),
]

_BY_METHOD: dict[str, list[Route]] = {}
for _route in ROUTES:
    _BY_METHOD.setdefault(_route.method, []).append(_route)


def match(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """The route for ``method`` and ``path`` (relative to ``/api2/json``) and its path params."""
    for route in _BY_METHOD.get(method, ()):
        m = route.regex.match(path)
        if m:
            return route, m.groupdict()
    return None
