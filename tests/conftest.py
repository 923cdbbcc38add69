"""Shared fixtures: an in-process PVE simulator and proxmoxer clients for it.

``sim`` is a fresh simulator per test (own state directory, instant tasks, a short config
flock wait); ``sim_factory`` builds others (manual clock, time scale, extensions) and
stops them at teardown; ``sim_client`` is a proxmoxer client with the FelhomAgent token,
``sim_root`` one logged in as root@pam, ``sim_weak`` the under-privileged token.
TLS verification is off here only because the simulator's certificate is self-signed
and these clients talk to nothing but it, on loopback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from proxmoxer import ProxmoxAPI

from felhom_provider.sim.server import SimServer

TEST_LOCK_WAIT = 0.05


def proxmox_for(sim: SimServer, who: str = "agent") -> Any:
    """A proxmoxer client for ``sim``: ``agent``/``weak`` tokens or ``root`` (password)."""
    ep = sim.endpoint
    host = ep["api_url"].removeprefix("https://")
    if who == "root":
        return ProxmoxAPI(
            host, user="root@pam", password=ep["root_password"], verify_ssl=False, timeout=30
        )
    token = ep["tokens"][who]
    user, _, name = token["id"].partition("!")
    return ProxmoxAPI(
        host, user=user, token_name=name, token_value=token["secret"], verify_ssl=False, timeout=30
    )


@pytest.fixture
def sim_factory(tmp_path: Path) -> Iterator[Callable[..., SimServer]]:
    """Build and start simulators; each gets its own state dir unless ``state_dir`` is given."""
    started: list[SimServer] = []

    def make(**kw: Any) -> SimServer:
        kw.setdefault("lock_wait", TEST_LOCK_WAIT)
        state_dir = kw.pop("state_dir", tmp_path / f"sim{len(started)}")
        server = SimServer(state_dir, **kw).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def sim(sim_factory: Callable[..., SimServer]) -> SimServer:
    """A fresh simulator with instant tasks."""
    return sim_factory()


@pytest.fixture
def sim_client(sim: SimServer) -> Any:
    """proxmoxer client authenticated with the FelhomAgent token."""
    return proxmox_for(sim, "agent")


@pytest.fixture
def sim_root(sim: SimServer) -> Any:
    """proxmoxer client logged in as root@pam with the password (ticket + CSRF)."""
    return proxmox_for(sim, "root")


@pytest.fixture
def sim_weak(sim: SimServer) -> Any:
    """proxmoxer client with the under-privileged token."""
    return proxmox_for(sim, "weak")
