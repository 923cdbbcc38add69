"""The start gate: at most N stacks in start-up, a place freed at the stack's first guest or
golden step (or when its operation ends), never freed twice."""

from __future__ import annotations

import threading

import pytest
from pulumi import automation as auto

from felhom_provider.fleet.start_gate import StartGate, default_limit, starts_work


def _pre(type_token: str) -> auto.EngineEvent:
    metadata = auto.StepEventMetadata(
        op=auto.OpType.CREATE, urn="urn:pulumi:s::p::t::n", type=type_token, provider=""
    )
    return auto.EngineEvent(
        sequence=1, timestamp=0, resource_pre_event=auto.ResourcePreEvent(metadata)
    )


@pytest.mark.parametrize(
    ("event", "work"),
    [
        (_pre("pulumi-python:dynamic/felhom:Guest"), True),
        (_pre("pulumi-python:dynamic/felhom:GoldenImage"), True),
        (_pre("pulumi-python:dynamic/felhom:StackIdentity"), False),
        (_pre("pulumi:pulumi:Stack"), False),
        (_pre("pulumi:providers:pulumi-python"), False),
        (auto.EngineEvent(sequence=1, timestamp=0), False),
    ],
)
def test_only_a_guest_or_golden_step_ends_the_start_up(event: auto.EngineEvent, work: bool) -> None:
    assert starts_work(event) is work


def test_the_default_is_two_per_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 3)
    assert default_limit() == 6
    monkeypatch.setattr("os.cpu_count", lambda: None)
    assert default_limit() == 2


@pytest.mark.parametrize("limit", [0, -1])
def test_a_limit_below_one_is_refused(limit: int) -> None:
    with pytest.raises(ValueError, match="--start-parallel"):
        StartGate(limit)


def test_at_most_limit_stacks_start_at_once_and_done_frees_a_place_early() -> None:
    gate = StartGate(2)
    entered: list[str] = []
    third_in = threading.Event()
    first = gate.starting()
    second = gate.starting()
    done_first = first.__enter__()
    second.__enter__()

    def third() -> None:
        with gate.starting():
            entered.append("third")
            third_in.set()

    worker = threading.Thread(target=third)
    worker.start()
    assert not third_in.wait(0.2)  # both places held
    done_first()  # the first stack reached its first guest: its place is free
    assert third_in.wait(5)
    worker.join(5)
    done_first()  # a second call frees nothing more
    first.__exit__(None, None, None)  # nor does the end of its operation
    assert entered == ["third"]
    # One place is still held by the second stack: exactly one more may enter.
    assert gate._places.acquire(blocking=False)
    assert not gate._places.acquire(blocking=False)


def test_the_place_is_freed_when_the_operation_fails_before_any_guest() -> None:
    gate = StartGate(1)
    with pytest.raises(RuntimeError), gate.starting():
        raise RuntimeError("the program failed")
    assert gate._places.acquire(blocking=False)
    gate._places.release()
