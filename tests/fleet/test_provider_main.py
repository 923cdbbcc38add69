"""The dynamic-provider server's concurrency, observed with concurrent slow ``create`` calls.

Pins two facts: the SDK's own server (``python -m pulumi.dynamic``) runs 4 calls at a time,
and ``felhom_provider.provider_main`` runs as many as the stack config's restore bound asks.
If the SDK changes how it builds its gRPC server, the first or the second test fails and
docs/fleet.md ("Concurrency inside one stack") needs a new look.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import dill
import grpc  # type: ignore[import-untyped]
import pytest
from google.protobuf import struct_pb2  # type: ignore[import-untyped]
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from felhom_provider.provider_main import HEADROOM, SDK_WORKERS, worker_count
from tests.fleet.slow_provider import AddressProvider, SlowProvider

REPO = Path(__file__).resolve().parents[2]


@contextmanager
def provider_server(module: str, config: dict[str, str]) -> Iterator[str]:
    """Start ``python -m <module>`` as the engine does, send ``Configure`` with the stack
    config (the engine's first call); yield the server's loopback address."""
    # What the engine puts in PULUMI_CONFIG for this plugin: its own namespace only.
    env = {**os.environ, "PULUMI_CONFIG": "{}", "PULUMI_PROJECT": "felhom"}
    proc = subprocess.Popen(
        [sys.executable, "-u", "-m", module, "127.0.0.1:1"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        port = proc.stdout.readline().strip()
        assert port.isdigit(), proc.stderr.read() if proc.stderr else port
        address = f"127.0.0.1:{port}"
        stub = provider_pb2_grpc.ResourceProviderStub(grpc.insecure_channel(address))
        # As the engine sends them: "<package>:config:<key>".
        variables = {f"pulumi-python:config:{k}": v for k, v in config.items()}
        stub.Configure(provider_pb2.ConfigureRequest(variables=variables), timeout=60)
        yield address
    finally:
        proc.kill()
        proc.wait(timeout=10)


def observed_concurrency(address: str, calls: int, target: int, wait: float) -> int:
    """Send ``calls`` concurrent creates; the most the server ran at once."""
    provider = base64.b64encode(dill.dumps(SlowProvider(), recurse=True)).decode()
    stub = provider_pb2_grpc.ResourceProviderStub(grpc.insecure_channel(address))

    def create(n: int) -> int:
        props = struct_pb2.Struct()
        props.update({"__provider": provider, "target": target, "wait": wait, "n": n})
        request = provider_pb2.CreateRequest(urn=f"urn:slow:{n}", properties=props)
        response = stub.Create(request, timeout=120)
        return int(response.properties["peak"])

    with ThreadPoolExecutor(max_workers=calls) as pool:
        return max(pool.map(create, range(calls)))


def test_sdk_server_runs_four_calls_at_once() -> None:
    # Six calls that each wait for six in progress: the SDK's pool lets only four in.
    with provider_server("pulumi.dynamic", {}) as address:
        assert observed_concurrency(address, calls=6, target=6, wait=2.0) == SDK_WORKERS


def test_provider_main_runs_as_many_as_the_restore_bound_asks() -> None:
    config = {
        "felhom:pve": json.dumps({"node": "pve1"}),
        "felhom:limits": json.dumps({"restoresPerNode": 6}),
    }
    width = worker_count(config)
    assert width == 2 * 6 + HEADROOM
    with provider_server("felhom_provider.provider_main", config) as address:
        assert observed_concurrency(address, calls=width, target=width, wait=30.0) == width


def test_provider_main_keeps_the_engine_address_visible() -> None:
    # The engine watchdog and the step log find the engine through the SDK module's
    # identity (provider_process/engine_log.py); running it via runpy must keep that.
    provider = base64.b64encode(dill.dumps(AddressProvider(), recurse=True)).decode()
    with provider_server("felhom_provider.provider_main", {}) as address:
        stub = provider_pb2_grpc.ResourceProviderStub(grpc.insecure_channel(address))
        props = struct_pb2.Struct()
        props.update({"__provider": provider})
        response = stub.Create(provider_pb2.CreateRequest(urn="urn:a", properties=props))
        assert response.properties["address"] == "127.0.0.1:1"


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({}, 2 * 2 + HEADROOM),  # restoresPerNode's default is 2
        ({"felhom:limits": '{"restoresPerNode": 16}'}, 2 * 16 + HEADROOM),
        ({"felhom:limits": '{"restoresPerNode": "8"}'}, 2 * 8 + HEADROOM),
        ({"felhom:limits": '{"restoresPerNode": 3.0}'}, 2 * 3 + HEADROOM),
        (
            {
                "felhom:pve": '{"node": "a"}',
                "felhom:golden": '{"build": {"node": "b"}}',
                "felhom:limits": '{"restoresPerNode": 4}',
            },
            2 * 4 * 2 + HEADROOM,
        ),
        ({"felhom:limits": '{"restoresPerNode": 0}'}, SDK_WORKERS),
        ({"felhom:limits": '{"restoresPerNode": "lots"}'}, SDK_WORKERS),
        ({"felhom:limits": "not json"}, 2 * 2 + HEADROOM),
        ({"felhom:limits": '{"restoresPerNode": 100000}'}, 256),
    ],
)
def test_worker_count(config: dict[str, str], expected: int) -> None:
    assert worker_count(config) == expected
