"""The PVE API client layer: endpoint, client, tasks, retry policies, property strings, TLS."""

from felhom_provider.pve.client import PveClient
from felhom_provider.pve.endpoint import PveEndpoint
from felhom_provider.pve.retry import PollBackoff, RetrySettings, classify
from felhom_provider.pve.stats import RequestStats
from felhom_provider.pve.tasks import TaskResult, Upid

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
