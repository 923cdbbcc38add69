"""The engine watchdog ends a provider process whose Pulumi engine is gone."""

from __future__ import annotations

import socket

import pytest

from felhom_provider.provider_process.watchdog import (
    ENGINE_GONE_EXIT,
    Watchdog,
    engine_reachable,
    start_engine_watchdog,
)


class ExitCalledError(Exception):
    """Stands in for os._exit in tests."""


def raise_exit(code: int) -> None:
    raise ExitCalledError(code)


@pytest.mark.parametrize(
    ("answers", "exits_after"),
    [
        ([False, False, False], 3),  # gone: three misses in a row
        ([True, False, False, True, False, False, False], 7),  # misses must be consecutive
        ([False, True, False, True, False, True, True], None),  # flapping never ends it
    ],
)
def test_exits_only_after_consecutive_misses(answers: list[bool], exits_after: int | None) -> None:
    probes = iter(answers)
    checked: list[int] = []

    def reachable(address: str) -> bool:
        checked.append(1)
        return next(probes)

    dog = Watchdog("127.0.0.1:1", reachable=reachable, sleep=lambda _s: None, exit=raise_exit)
    if exits_after is None:
        dog.run(max_checks=len(answers))
        assert len(checked) == len(answers)
    else:
        with pytest.raises(ExitCalledError) as gone:
            dog.run(max_checks=len(answers))
        assert gone.value.args == (ENGINE_GONE_EXIT,)
        assert len(checked) == exits_after


def test_engine_reachable_follows_a_real_listener() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    address = f"127.0.0.1:{listener.getsockname()[1]}"
    try:
        assert engine_reachable(address)
    finally:
        listener.close()
    assert not engine_reachable(address)


def test_no_watchdog_outside_the_engines_plugin_process() -> None:
    # pytest is the __main__ here, not `python -m pulumi.dynamic <address>`.
    assert start_engine_watchdog() is None


def test_exits_even_when_stderr_is_a_broken_pipe(monkeypatch: pytest.MonkeyPatch) -> None:
    class BrokenPipe:
        def write(self, _text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self) -> None:
            raise BrokenPipeError(32, "Broken pipe")

    # A killed engine took the read end of the provider's stderr with it.
    monkeypatch.setattr("sys.stderr", BrokenPipe())
    dog = Watchdog(
        "127.0.0.1:1", reachable=lambda _a: False, sleep=lambda _s: None, exit=raise_exit
    )
    with pytest.raises(ExitCalledError):
        dog.run(max_checks=3)
