"""rollout: the per-stack gate (concurrency bound, pause after a failure) and its settings."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from felhom_provider.errors import ConfigError, FelhomError
from felhom_provider.reconcile import rollout
from felhom_provider.reconcile.rollout import RolloutGate, RolloutSettings


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        (None, RolloutSettings(1, True)),
        ({}, RolloutSettings(1, True)),
        ({"maxParallel": 3}, RolloutSettings(3, True)),
        ({"maxParallel": 2, "pauseOnFailure": False}, RolloutSettings(2, False)),
    ],
)
def test_settings_from_config(raw: dict[str, Any] | None, want: RolloutSettings) -> None:
    assert RolloutSettings.from_config(raw) == want


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"maxParallel": 0}, "felhom:rollout.maxParallel"),
        ({"maxParallel": True}, "felhom:rollout.maxParallel"),
        ({"pauseOnFailure": "yes"}, "felhom:rollout.pauseOnFailure"),
        ({"parallel": 2}, "felhom:rollout"),
    ],
)
def test_bad_settings_name_the_key(raw: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        RolloutSettings.from_config(raw)
    assert info.value.field == field


def test_at_most_max_parallel_rolls_at_once() -> None:
    gate = RolloutGate("s", RolloutSettings(max_parallel=2))
    inside, peak, lock = 0, 0, threading.Lock()
    release = threading.Event()

    def roll(name: str) -> None:
        nonlocal inside, peak
        with gate.slot(name):
            with lock:
                inside += 1
                peak = max(peak, inside)
            release.wait(5)
            with lock:
                inside -= 1

    threads = [threading.Thread(target=roll, args=(f"g{i}",)) for i in range(5)]
    for t in threads:
        t.start()
    while True:
        with lock:
            if inside == 2:
                break
    release.set()
    for t in threads:
        t.join()
    assert peak == 2


def test_a_failure_pauses_the_rest_when_asked() -> None:
    gate = RolloutGate("s", RolloutSettings(pause_on_failure=True))
    with pytest.raises(RuntimeError), gate.slot("g1"):
        raise RuntimeError("docker check failed")
    assert gate.failed == "g1: docker check failed"
    paused = r"paused after a failed roll \(g1: docker"
    with pytest.raises(FelhomError, match=paused) as info, gate.slot("g2"):
        raise AssertionError("must not run")
    assert info.value.context == {"guest": "g2", "step": "rollout"}


def test_without_pause_later_rolls_still_run() -> None:
    gate = RolloutGate("s", RolloutSettings(pause_on_failure=False))
    with pytest.raises(RuntimeError), gate.slot("g1"):
        raise RuntimeError("boom")
    ran = []
    with gate.slot("g2"):
        ran.append("g2")
    assert ran == ["g2"] and gate.failed is None


def test_the_registry_keeps_one_gate_per_stack_until_reset() -> None:
    rollout.reset()
    first = rollout.gate("acme", RolloutSettings(max_parallel=3))
    assert rollout.gate("acme") is first and first.settings.max_parallel == 3
    assert rollout.gate("other") is not first
    rollout.reset("acme")
    assert rollout.gate("acme") is not first
    rollout.reset()


def test_a_recovery_takes_a_slot_but_is_never_refused_when_paused() -> None:
    gate = RolloutGate("acme", RolloutSettings(max_parallel=1, pause_on_failure=True))
    with pytest.raises(RuntimeError), gate.slot("web"):
        raise RuntimeError("docker failed")
    with pytest.raises(FelhomError, match="paused"), gate.slot("db"):
        pass
    ran = []
    with gate.slot("db", recovery=True):  # finishing or rolling back a killed run's roll
        ran.append("db")
        # it holds the one slot: nobody else rolls meanwhile
        assert not gate._slots.acquire(blocking=False)
    assert ran == ["db"]
