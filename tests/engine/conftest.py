"""Fixtures: a simulator with guests and a node shell, a golden archive, engine factories.

The golden archive is built once per session by ``GoldenEngine`` (over the simulator's SSH
node shell) and its state directory is copied for every test, so each test starts from a
node that holds only the template and the archive. Engines get a fake clock whose sleep
advances fake time (and yields briefly to the simulator's threads): deadlines are exercised
without waiting on the wall clock.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from felhom_provider.guest.ssh import NodeShellSettings, ParamikoNodeShell
from felhom_provider.pve import PveClient, PveEndpoint, RetrySettings
from felhom_provider.reconcile import (
    GoldenEngine,
    GoldenSpec,
    GoldenState,
    GuestEngine,
    golden_steps,
)
from felhom_provider.reconcile.model import GuestSpec, MountSpec, owner_of
from felhom_provider.sim.hooks import load_extensions
from felhom_provider.sim.server import SimServer
from tests.unit.reconcile.fakes import FakeClock as UnitFakeClock

TEMPLATE = "local:vztmpl/debian-13-standard_13.1-2_amd64.tar.zst"
GOLDEN_OWNER = "felhom/test/golden"
# Short client backoff: the simulator answers at once, so retries need no real waiting.
FAST_RETRY = RetrySettings(attempts=6, initial_s=0.01, max_s=0.05, jitter_s=0.0)


class FakeClock(UnitFakeClock):
    """Engine time that advances when the engine sleeps; yields to the simulator briefly."""

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        time.sleep(0.005)


def node_shell(sim: SimServer) -> ParamikoNodeShell:
    """The root node shell of ``sim``, its host key pinned from endpoint.json."""
    ns = sim.endpoint["node_shell"]
    return ParamikoNodeShell(
        NodeShellSettings(
            host=ns["host"],
            port=ns["port"],
            user=ns["user"],
            host_key=ns["host_public_key"],
            key_file=ns["client_private_key_path"],
        )
    )


def client_for(sim: SimServer, token: str = "agent", **kw: Any) -> PveClient:
    """A PveClient with the simulator's token, its certificate pinned."""
    kw.setdefault("retry", FAST_RETRY)
    return PveClient(PveEndpoint.from_endpoint_json(sim.endpoint, token=token), **kw)


def start_sim(state_dir: Path, **kw: Any) -> SimServer:
    """A simulator with the guest model and node shell on ``state_dir``."""
    kw.setdefault("lock_wait", 0.2)
    return SimServer(state_dir, extensions=load_extensions(), **kw).start()


def _build(tmp: Path, name: str, *, keygen_unit: bool) -> tuple[Path, GoldenState]:
    state_dir = tmp / name
    sim = start_sim(state_dir)
    try:
        spec = GoldenSpec(name=name, owner=f"{GOLDEN_OWNER}-{name}", node=sim.state.node,
                          template=TEMPLATE)  # fmt: skip
        original = golden_steps.bake_keygen_unit
        if not keygen_unit:
            golden_steps.bake_keygen_unit = list
        try:
            state = GoldenEngine(client_for(sim), node_shell(sim)).build(spec)
        finally:
            golden_steps.bake_keygen_unit = original
    finally:
        sim.stop()
    return state_dir, state


@pytest.fixture(scope="session")
def golden_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, GoldenState]]:
    """State directories holding a golden archive: ``good`` and one without the keygen unit."""
    tmp = tmp_path_factory.mktemp("golden")
    return {
        "good": _build(tmp, "good", keygen_unit=True),
        "keyless": _build(tmp, "keyless", keygen_unit=False),
    }


@dataclass
class Env:
    """One test's simulator, clients, node shell, golden archive and progress log."""

    sim: SimServer
    golden: GoldenState
    client: PveClient
    shell: ParamikoNodeShell
    log: list[str] = field(default_factory=list)
    clock: FakeClock = field(default_factory=FakeClock)

    @property
    def node(self) -> str:
        """The simulated node's name."""
        return str(self.sim.state.node)

    def engine(self, *, shell: Any = "default", client: PveClient | None = None,
               **kw: Any) -> GuestEngine:  # fmt: skip
        """A GuestEngine on this simulator (node shell unless ``shell=None``)."""
        kw.setdefault("lease_timeout_s", 30.0)
        kw.setdefault("hostkey_timeout_s", 10.0)
        kw.setdefault("task_timeout_s", 120.0)
        kw.setdefault("poll_s", 0.5)
        return GuestEngine(
            client or self.client,
            self.shell if shell == "default" else shell,
            guest_ssh_port=int(self.sim.endpoint["guest_ssh_port"]),
            progress=self.log.append,
            clock=self.clock,
            sleep=self.clock.sleep,
            **kw,
        )

    def spec(self, name: str = "acme-web", **kw: Any) -> GuestSpec:
        """A guest spec on this node from the golden archive."""
        base: dict[str, Any] = dict(
            name=name, owner=f"felhom/test/{name}", node=self.node, archive=self.golden.archive,
            hostname=name, cores=2, memory=1024, swap=512, rootfs_storage="local-lvm",
            rootfs_gib=10, mounts=(MountSpec("local-lvm", 1, "/mnt/data"),),
        )  # fmt: skip
        base.update(kw)
        return GuestSpec(**base)

    def cts(self) -> list[dict[str, Any]]:
        """The simulator's audit of CTs."""
        return list(self.sim.audit()["cts"])

    def orphans(self, *, owners: set[str], reported: set[int] = frozenset(),  # type: ignore[assignment]
                ignore: set[int] = frozenset()) -> list[dict[str, Any]]:  # type: ignore[assignment]  # fmt: skip
        """CTs the engine neither owns (marker in ``owners``) nor reported, minus ``ignore``."""
        out = []
        for ct in self.cts():
            if ct["vmid"] in ignore or ct["vmid"] in reported:
                continue
            if owner_of({"description": ct.get("description")}) not in owners:
                out.append(ct)
        return out

    def guest_exec(self, vmid: int, *argv: str) -> str:
        """Run argv in a guest over the node shell; returns stdout (must succeed)."""
        return str(self.shell.exec(vmid, list(argv)).check().stdout)


@pytest.fixture
def env_factory(golden_dirs: dict[str, tuple[Path, GoldenState]],
                tmp_path: Path) -> Iterator[Callable[..., Env]]:  # fmt: skip
    """Build an Env from a copy of a golden state dir (``golden="good"|"keyless"``)."""
    started: list[SimServer] = []

    def make(golden: str = "good", **sim_kw: Any) -> Env:
        src, state = golden_dirs[golden]
        dst = tmp_path / f"{golden}-{len(started)}"
        shutil.copytree(src, dst)
        (dst / "endpoint.json").unlink(missing_ok=True)
        sim = start_sim(dst, **sim_kw)
        started.append(sim)
        return Env(sim=sim, golden=state, client=client_for(sim), shell=node_shell(sim))

    yield make
    for sim in started:
        sim.stop()


@pytest.fixture
def env(env_factory: Callable[..., Env]) -> Env:
    """A fresh node holding the good golden archive."""
    return env_factory()
