"""The PVE API client layer: endpoint, client, tasks, retry policies, property strings, TLS.

Names load on first use (``felhom_provider._lazy``): the program needs the endpoint's
settings, not the HTTP client and its retry machinery.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from felhom_provider._lazy import lazy_exports

if TYPE_CHECKING:
    from felhom_provider.pve.client import PveClient
    from felhom_provider.pve.endpoint import PveEndpoint
    from felhom_provider.pve.retry import PollBackoff, RetrySettings, classify
    from felhom_provider.pve.stats import RequestStats
    from felhom_provider.pve.tasks import TaskResult, Upid

_HOMES = {
    "PveClient": "client",
    "PveEndpoint": "endpoint",
    "PollBackoff": "retry",
    "RetrySettings": "retry",
    "classify": "retry",
    "RequestStats": "stats",
    "TaskResult": "tasks",
    "Upid": "tasks",
}

__all__ = [
    "PollBackoff",
    "PveClient",
    "PveEndpoint",
    "RequestStats",
    "RetrySettings",
    "TaskResult",
    "Upid",
    "classify",
]

__getattr__ = lazy_exports(__name__, _HOMES, globals())
