"""The ``transient-fleet`` fault profile against the engine: every guest converges at once.

The profile (``felhom_provider.sim.faults.PRESETS``) answers mutating calls with lock 500s,
drops connections before and after the simulator handled a request, answers reads with 5xx
and slows answers down, all drawn from a seeded generator. Every one of those faults is
transient, so each create must end with its guest running: no rollback, no orphan, no
duplicate CT, no CT left locked.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from felhom_provider.reconcile.model import owner_of
from felhom_provider.sim.faults import PRESETS, Faults
from tests.engine.conftest import Env

GUESTS = 6


@pytest.mark.parametrize("seed", [7, 11])
def test_fleet_converges_under_the_transient_profile(env: Env, seed: int) -> None:
    env.sim.state.faults.install_preset("transient-fleet", seed)
    engine = env.engine(restores_per_node=3)
    specs = [env.spec(f"fleet-{i}") for i in range(GUESTS)]
    with ThreadPoolExecutor(max_workers=GUESTS) as pool:
        states = list(pool.map(engine.create, specs))
    assert all(s.status == "running" and s.ipv4 for s in states)
    assert not any("rolling back" in line for line in env.log), "a transient fault surfaced"
    cts = env.cts()
    owners = Counter(owner_of({"description": ct.get("description")}) for ct in cts)
    assert owners == Counter(s.owner for s in specs), "orphan or duplicate CT"
    assert not [ct for ct in cts if ct.get("lock")], "a CT was left locked"
    hits = sum(rule.hits for rule in env.sim.state.faults.http)
    assert hits >= GUESTS, f"the profile barely fired ({hits} faults)"


@pytest.mark.parametrize(
    ("action", "restores", "words"),
    [("drop", 2, "sending it again (2/3)"), ("drop-after", 1, "following it (not re-sent)")],
)
def test_restore_whose_answer_is_lost(env: Env, action: str, restores: int, words: str) -> None:
    # Dropped before the simulator handled it: no task, no CT after the lock window, so it
    # is sent again. Dropped after: the task exists and is followed, never re-sent.
    env.sim.add_http_fault("POST", "/nodes/{node}/lxc", action=action, times=1)
    state = env.engine().create(env.spec())
    assert state.status == "running"
    assert env.client.stats.count("POST", "/nodes/{node}/lxc") == restores
    assert any(words in line for line in env.log), env.log
    assert [ct["vmid"] for ct in env.cts()] == [state.vmid]


def test_preset_draws_repeat_for_a_seed() -> None:
    def draws(seed: int) -> list[str | None]:
        faults = Faults()
        faults.install_preset("transient-fleet", seed)
        out = []
        for _ in range(200):
            rule = faults.match_http("POST", "/nodes/pve/lxc", "/nodes/{node}/lxc")
            out.append(rule.action if rule else None)
        return out

    assert draws(3) == draws(3) and draws(3) != draws(4)
    assert {"drop", "drop-after", "error", "delay"} <= set(draws(3))
    with pytest.raises(ValueError, match="unknown fault preset"):
        Faults().install_preset("nope")
    assert "transient-fleet" in PRESETS
