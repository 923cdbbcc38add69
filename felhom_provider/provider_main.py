"""The dynamic-provider process, with as many RPC threads as the stack's restore bound needs.

The Python SDK's dynamic-provider server (``pulumi/dynamic/__main__.py``, ``main``) serves
its gRPC calls from ``ThreadPoolExecutor(max_workers=4)``. A provider call holds its thread
for the whole operation, so a ``FelhomGuest`` create (restore, start, DHCP lease, host-key
probe) keeps one of four threads busy for its whole bring-up: guests of one stack came up four
at a time whatever ``pulumi up --parallel`` and ``felhom:limits.restoresPerNode`` said.

``python -m felhom_provider.provider_main <engine-address>`` runs the SDK's own server module
unchanged (same servicer, same gRPC options, same port hand-shake on stdout), except that the
single ``grpc.server(...)`` call it makes gets a wider thread pool. The width comes from the
stack config the engine hands every plugin in ``PULUMI_CONFIG``: ``restoresPerNode`` times
the nodes the stack uses, times two (a guest keeps its thread after its restore slot is freed:
while it boots, another guest restores), plus headroom for check/diff/read calls and the
golden image. The restore semaphore (``reconcile.locks.restore_slots``) stays the real bound.

The toolchain's ``pulumi-resource-pulumi-python`` launcher starts this module when the
project's virtualenv has it, and ``pulumi.dynamic`` otherwise (scripts/install-toolchain.sh);
docs/fleet.md explains the choice. ``tests/fleet/test_provider_main.py`` pins the SDK
behaviour this relies on: if the SDK stops calling ``grpc.server`` with a thread pool, or
changes its width, that test fails.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
from collections.abc import Callable, Mapping
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
    """RPC threads for a stack config (``PULUMI_CONFIG`` decoded); invalid values fall back.

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


def config_from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    """The stack config the engine passed in ``PULUMI_CONFIG`` (empty when absent or bad)."""
    raw = environ.get("PULUMI_CONFIG", "")
    try:
        parsed = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


class _WiderPool:
    """Replaces the thread pool of the next ``grpc.server`` call, once, then steps aside."""

    def __init__(self, grpc_module: Any, workers: int) -> None:
        self.grpc = grpc_module
        self.workers = workers
        self.original: Callable[..., Any] = grpc_module.server
        self.replaced_width: int | None = None

    def __call__(self, thread_pool: Any = None, *args: Any, **kwargs: Any) -> Any:
        self.grpc.server = self.original
        if isinstance(thread_pool, ThreadPoolExecutor):
            # The SDK's pool has started no thread yet (threads start on first submit).
            self.replaced_width = thread_pool._max_workers
            thread_pool.shutdown(wait=False)
            thread_pool = ThreadPoolExecutor(
                max_workers=self.workers, thread_name_prefix="felhom-provider"
            )
        else:
            print(
                "felhom provider: the SDK's dynamic-provider server no longer passes a "
                "ThreadPoolExecutor to grpc.server; running with its own concurrency",
                file=sys.stderr,
                flush=True,
            )
        return self.original(thread_pool, *args, **kwargs)


def install_wider_pool(workers: int) -> _WiderPool:
    """Make the next ``grpc.server(...)`` call use ``workers`` threads."""
    import grpc  # type: ignore[import-untyped]  # noqa: PLC0415

    patch = _WiderPool(grpc, workers)
    grpc.server = patch
    return patch


def main() -> None:
    """Run the SDK's dynamic-provider server with the stack's width (never returns)."""
    workers = worker_count(config_from_env(os.environ))
    install_wider_pool(workers)
    # run_name "__main__" keeps the SDK module's own view of itself (and the engine-address
    # check in resources/_engine_log.py, which looks for pulumi.dynamic.__main__).
    runpy.run_module("pulumi.dynamic", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
