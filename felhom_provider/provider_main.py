"""The dynamic-provider process, with as many RPC threads as the stack's restore bound needs.

The Python SDK's dynamic-provider server (``pulumi/dynamic/__main__.py``, ``main``) serves
its gRPC calls from ``ThreadPoolExecutor(max_workers=4)``. A provider call holds its thread
for the whole operation, so a ``FelhomGuest`` create (restore, start, DHCP lease, host-key
probe) keeps one of four threads busy for its whole bring-up: guests of one stack came up four
at a time whatever ``pulumi up --parallel`` and ``felhom:limits.restoresPerNode`` said.

``python -m felhom_provider.provider_main <engine-address>`` runs the SDK's own server module
unchanged (same servicer, same gRPC options, same port hand-shake on stdout), except that the
single ``grpc.server(...)`` call it makes gets a thread pool of our own, and the servicer's
``Configure`` (the engine's first call, carrying the whole stack config) widens that pool for
the stack: ``restoresPerNode`` times the nodes the stack uses, times two (a guest keeps its
thread after its restore slot is freed: while it boots, another guest restores), plus
headroom for check/diff/read calls and the golden image. (``PULUMI_CONFIG`` in the plugin's
environment cannot serve: the engine puts only the plugin's own namespace there,
``pkg/host/host.go`` ``Provider``, which is ``pulumi-python`` here.) The restore semaphore
(``reconcile.locks.restore_slots``) stays the real bound.

The toolchain's ``pulumi-resource-pulumi-python`` launcher starts this module when the
project's virtualenv has it, and ``pulumi.dynamic`` otherwise (scripts/install-toolchain.sh);
docs/fleet.md explains the choice. ``tests/fleet/test_provider_main.py`` pins the SDK
behaviour this relies on: if the SDK stops calling ``grpc.server`` with a thread pool, or
changes its width, that test fails.
"""

from __future__ import annotations

import json
import runpy
import sys
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

#: The SDK's own width (``pulumi/dynamic/__main__.py``); never go below it.
SDK_WORKERS = 4
#: Threads for calls that take no restore slot: check, diff, read, the golden image.
HEADROOM = 4
#: An upper bound so a typo in the config cannot start thousands of threads.
MAX_WORKERS = 256
#: ``settings.LimitsSettings.restores_per_node``'s default, when the key is absent.
DEFAULT_RESTORES_PER_NODE = 2


def _decoded(value: Any) -> Any:
    """A config value as the engine sends it: JSON text for structured values."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def stack_nodes(config: Mapping[str, Any]) -> set[str]:
    """The PVE nodes a stack's resources run on: ``felhom:pve.node`` and a golden build's."""
    nodes: set[str] = set()
    pve = _decoded(config.get("felhom:pve"))
    if isinstance(pve, dict) and isinstance(pve.get("node"), str):
        nodes.add(pve["node"])
    golden = _decoded(config.get("felhom:golden"))
    build = golden.get("build") if isinstance(golden, dict) else None
    if isinstance(build, dict) and isinstance(build.get("node"), str):
        nodes.add(build["node"])
    return nodes


def worker_count(config: Mapping[str, Any]) -> int:
    """RPC threads for a stack config (``Configure``'s variables); invalid values fall back.

    Config errors are reported by the provider's own ``check``/``configure``, which name the
    key; here a bad value only means the SDK's width.
    """
    limits = _decoded(config.get("felhom:limits"))
    per_node: Any = DEFAULT_RESTORES_PER_NODE
    if isinstance(limits, dict):
        per_node = limits.get("restoresPerNode", DEFAULT_RESTORES_PER_NODE)
    if isinstance(per_node, str) and per_node.strip().isdigit():
        per_node = int(per_node)
    if isinstance(per_node, float) and per_node.is_integer():
        per_node = int(per_node)
    if not isinstance(per_node, int) or isinstance(per_node, bool) or per_node < 1:
        return SDK_WORKERS
    nodes = max(1, len(stack_nodes(config)))
    return max(SDK_WORKERS, min(MAX_WORKERS, 2 * per_node * nodes + HEADROOM))


def config_keys(variables: Mapping[str, str]) -> dict[str, str]:
    """``Configure``'s variables by their stack config keys.

    The engine sends them as ``<package>:config:<key>`` (here
    ``pulumi-python:config:felhom:limits``); this is ``felhom:limits``.
    """
    return {key.partition(":config:")[2] or key: value for key, value in variables.items()}


class _WiderPool:
    """Gives the next ``grpc.server`` call our pool and the next servicer a widening Configure."""

    def __init__(self, grpc_module: Any, registry: Any) -> None:
        self.grpc = grpc_module
        self.registry = registry
        self.server = grpc_module.server
        self.add_servicer = registry.add_ResourceProviderServicer_to_server
        # The SDK's own width until Configure tells the stack's; threads start on demand.
        self.pool = ThreadPoolExecutor(max_workers=SDK_WORKERS, thread_name_prefix="felhom-rpc")
        self.replaced = False

    def make_server(self, thread_pool: Any = None, *args: Any, **kwargs: Any) -> Any:
        """``grpc.server`` with our pool instead of the SDK's (once)."""
        self.grpc.server = self.server
        if isinstance(thread_pool, ThreadPoolExecutor):
            thread_pool.shutdown(wait=False)  # never used: no thread started yet
            thread_pool, self.replaced = self.pool, True
        else:
            print(
                "felhom provider: the SDK's dynamic-provider server no longer passes a "
                "ThreadPoolExecutor to grpc.server; running with its own concurrency",
                file=sys.stderr,
                flush=True,
            )
        return self.server(thread_pool, *args, **kwargs)

    def register(self, servicer: Any, server: Any) -> Any:
        """Wrap the servicer's ``Configure`` before gRPC binds its methods."""
        self.registry.add_ResourceProviderServicer_to_server = self.add_servicer
        configure = servicer.Configure

        def widening_configure(request: Any, context: Any) -> Any:
            self.widen(worker_count(config_keys(request.variables)))
            return configure(request, context)

        servicer.Configure = widening_configure
        return self.add_servicer(servicer, server)

    def widen(self, workers: int) -> None:
        """Let the pool run ``workers`` calls at once (it never narrows)."""
        if self.replaced and workers > self.pool._max_workers:
            # CPython's executor reads this on every submit and starts threads up to it.
            self.pool._max_workers = workers


def install_wider_pool() -> _WiderPool:
    """Route the SDK server's construction through ``_WiderPool``."""
    import grpc  # type: ignore[import-untyped]  # noqa: PLC0415
    from pulumi.runtime.proto import provider_pb2_grpc  # noqa: PLC0415

    patch = _WiderPool(grpc, provider_pb2_grpc)
    grpc.server = patch.make_server
    provider_pb2_grpc.add_ResourceProviderServicer_to_server = patch.register
    return patch


def main() -> None:
    """Run the SDK's dynamic-provider server with the stack's width (never returns)."""
    install_wider_pool()
    # run_name "__main__" keeps the SDK module's own view of itself (and the engine-address
    # check in provider_process/engine_log.py, which looks for pulumi.dynamic.__main__).
    runpy.run_module("pulumi.dynamic", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
