"""``reconcile.rollout`` at its edges: the problem each refused ``felhom:rollout`` value
reports (shown by ``pulumi up``) and forgetting a gate that was never made (mutation-testing
gaps)."""

from __future__ import annotations

from typing import Any

import pytest

from felhom_provider.errors import ConfigError
from felhom_provider.reconcile import rollout
from felhom_provider.reconcile.rollout import RolloutSettings


@pytest.mark.parametrize(
    ("raw", "field", "problem"),
    [
        ({"maxParallel": "2"}, "felhom:rollout.maxParallel", "must be an integer"),
        ({"maxParallel": True}, "felhom:rollout.maxParallel", "must be an integer"),
        ({"maxParallel": 0}, "felhom:rollout.maxParallel", "must be >= 1, got 0"),
        ({"maxParallel": -3}, "felhom:rollout.maxParallel", "must be >= 1, got -3"),
        ({"pauseOnFailure": "yes"}, "felhom:rollout.pauseOnFailure", "must be true or false"),
        ({"pauseOnFailure": 1}, "felhom:rollout.pauseOnFailure", "must be true or false"),
        ({"parallel": 2, "max": 1}, "felhom:rollout", "unknown keys ['max', 'parallel']"),
    ],
)
def test_a_refused_value_says_what_is_wrong(raw: dict[str, Any], field: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        RolloutSettings.from_config(raw)
    assert (info.value.field, info.value.problem) == (field, problem)
    assert str(info.value).startswith(f"{field}: {problem}")


def test_reset_of_a_stack_without_a_gate_keeps_the_others() -> None:
    rollout.reset()
    kept = rollout.gate("mut/kept")
    rollout.reset("mut/never-gated")
    assert rollout.gate("mut/kept") is kept
    rollout.reset("mut/kept")
    assert rollout.gate("mut/kept") is not kept
    rollout.reset()
