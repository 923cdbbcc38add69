"""Fixtures of the acceptance suite, and when it runs.

``test_scenarios.py`` runs only when named on the command line (``make acceptance`` does):
against a real node it needs its target, and even against the simulator it is a separate CI
step. Everything in this folder carries the ``acceptance`` marker. The guard-rail tests
(``test_guard_rails.py``, ``test_target.py``) run with the rest of the test suite.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.acceptance.suite import Suite, running_suite
from tests.acceptance.target import PREFIX, target_from_env, target_from_sim, wants_real_node
from tests.e2e.test_stack_lifecycle import Sim

HERE = Path(__file__).resolve().parent
SCENARIO_FILE = HERE / "test_scenarios.py"
#: The simulator's time scale for the suite: real task durations times this.
DEFAULT_SIM_TIME_SCALE = "0.05"


def _named(config: pytest.Config) -> bool:
    for arg in config.args:
        path = Path(arg.split("::", 1)[0]).resolve()
        if path in (SCENARIO_FILE, HERE):
            return True
    return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark this folder's tests; leave the scenarios out unless asked for by path."""
    keep, drop = [], []
    for item in items:
        path = Path(str(item.path)).resolve()
        if HERE in path.parents:
            item.add_marker(pytest.mark.acceptance)
        if path == SCENARIO_FILE and not _named(config):
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session")
def suite() -> Iterator[Suite]:
    """One run: a real node from ``FELHOM_ACC_*``, else a fresh simulator."""
    env = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="felhom-acceptance-") as tmp:
        base = Path(tmp)
        sim: Sim | None = None
        try:
            if wants_real_node(env):
                target = target_from_env(env)
            else:
                scale = float(env.get(PREFIX + "TIME_SCALE") or DEFAULT_SIM_TIME_SCALE)
                sim = Sim(base / "sim", time_scale=scale)
                target = target_from_sim(sim.endpoint, env)
            with running_suite(base / "run", target, say=print) as run:
                yield run
        finally:
            if sim is not None:
                sim.stop()
