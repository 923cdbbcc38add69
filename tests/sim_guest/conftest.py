"""Fixtures for driving the simulator like the seed's runbook: root over the node shell
(paramiko, pinned host key), token steps over the API (proxmoxer)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from felhom_provider.sim import guest
from felhom_provider.sim.clock import DEFAULT_DURATIONS, ManualClock
from felhom_provider.sim.guest import SimGuestHooks
from felhom_provider.sim.guest_sshd import GuestSshdService
from felhom_provider.sim.hooks import Extensions
from felhom_provider.sim.nodeshell import NodeShellService
from felhom_provider.sim.server import SimServer
from tests.conftest import proxmox_for
from tests.sim_guest.nodeshell_client import NodeShellClient


def extensions() -> Extensions:
    """What ``load_extensions`` registers, but the guests' sshd on a free port (never 22), so
    tests cannot meet another simulator's guests on this machine."""
    ext = Extensions()
    guest.register(ext)
    assert isinstance(ext.hooks, SimGuestHooks)
    ext.services += [NodeShellService(ext.hooks), GuestSshdService(ext.hooks, port=0)]
    return ext


@pytest.fixture
def guest_sim(sim_factory: Callable[..., SimServer]) -> SimServer:
    """A simulator with the guest model, node shell and guest sshd registered."""
    return sim_factory(extensions=extensions())


@pytest.fixture
def slow_resize_sim(sim_factory: Callable[..., SimServer]) -> SimServer:
    """Like ``guest_sim`` but on a manual clock where only ``resize`` takes time (F4)."""
    durations = {k: 0.0 for k in DEFAULT_DURATIONS} | {"resize": 2.0}
    return sim_factory(extensions=extensions(), clock=ManualClock(durations=durations))


@pytest.fixture
def node_factory() -> Iterator[Callable[[SimServer], NodeShellClient]]:
    """Connect root to a simulator's node shell; closes the connections at teardown."""
    clients: list[NodeShellClient] = []

    def connect(sim: SimServer) -> NodeShellClient:
        client = NodeShellClient.connect(sim.endpoint["node_shell"])
        clients.append(client)
        return client

    yield connect
    for client in clients:
        client.close()


@pytest.fixture
def node(
    guest_sim: SimServer, node_factory: Callable[[SimServer], NodeShellClient]
) -> NodeShellClient:
    """root@node over SSH for ``guest_sim``."""
    return node_factory(guest_sim)


@pytest.fixture
def api(guest_sim: SimServer) -> Any:
    """proxmoxer with the FelhomAgent token for ``guest_sim``."""
    return proxmox_for(guest_sim, "agent")
