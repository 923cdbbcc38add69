"""Fixtures for the PVE client tests: endpoint, scripted transport, fake clock, client."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from felhom_provider.pve import PollBackoff, PveClient, PveEndpoint, RetrySettings

from .fakes import SECRET, FakeClock, ScriptedAdapter


@pytest.fixture
def endpoint() -> PveEndpoint:
    return PveEndpoint(
        url="https://127.0.0.1:8006",
        node="pve",
        token_id="felhom-agent@pve!agent",
        token_secret=SECRET,
        tls_fingerprint_sha256="AB:" * 31 + "AB",
    )


@pytest.fixture
def scripted() -> ScriptedAdapter:
    return ScriptedAdapter()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_client(endpoint, scripted, clock) -> Callable[..., PveClient]:
    def make(**kwargs: Any) -> PveClient:
        kwargs.setdefault("retry", RetrySettings(attempts=4, jitter_s=0.0))
        kwargs.setdefault("poll", PollBackoff(initial_s=0.5, factor=2.0, max_s=2.0))
        return PveClient(
            kwargs.pop("endpoint", endpoint),
            adapter=scripted,
            sleep=clock.sleep,
            clock=clock.monotonic,
            wallclock=clock.wall,
            **kwargs,
        )

    return make


@pytest.fixture
def client(make_client: Callable[..., PveClient]) -> PveClient:
    return make_client()
