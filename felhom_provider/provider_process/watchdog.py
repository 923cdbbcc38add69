"""End the provider process when the Pulumi engine that started it is gone.

The engine starts the dynamic-provider plugin as ``python -m pulumi.dynamic <engine-address>``.
Pulumi's Go plugins watch their engine and exit when it disappears; the Python dynamic
provider host does not. So after ``pulumi up`` is killed (SIGKILL, OOM killer, a closed CI
job) its provider process would carry on with a bring-up whose result no engine will ever
record, and race with the next ``pulumi up``, which adopts the same half-made guest by its
ownership marker (the per-guest locks only serialise threads of one process).

This watchdog closes that gap: a daemon thread connects to the engine's address every few
seconds and ends the process after several refused connections in a row. A guest it leaves
half-made carries its marker and is adopted by the next ``up`` (docs/engine.md).
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from felhom_provider.provider_process.engine_log import engine_address

# Exit status when the engine vanished (EX_SOFTWARE would mislead; this is EX_UNAVAILABLE).
ENGINE_GONE_EXIT = 69

_started = threading.Lock()
_running: list[Watchdog] = []


def engine_reachable(address: str, timeout_s: float = 1.0) -> bool:
    """True when a TCP connection to ``host:port`` is accepted."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            return True
    except OSError:
        return False


@dataclass
class Watchdog:
    """Probes ``address`` every ``interval_s``; ``exit`` after ``failures`` misses in a row."""

    address: str
    interval_s: float = 2.0
    failures: int = 3
    reachable: Callable[[str], bool] = engine_reachable
    sleep: Callable[[float], None] = time.sleep
    exit: Callable[[int], None] = os._exit

    def check(self, misses: int) -> int:
        """One probe: the new count of consecutive misses (0 when the engine answered)."""
        return 0 if self.reachable(self.address) else misses + 1

    def run(self, max_checks: int | None = None) -> None:
        """Probe until the engine is gone (then ``exit``) or ``max_checks`` probes ran."""
        misses, done = 0, 0
        while max_checks is None or done < max_checks:
            misses = self.check(misses)
            done += 1
            if misses >= self.failures:
                # stderr may be a pipe to the dead engine, with nobody left to read it.
                with contextlib.suppress(OSError):
                    print(
                        f"felhom provider: the Pulumi engine at {self.address} is gone; "
                        "stopping (a half-made guest is adopted by the next `pulumi up`)",
                        file=sys.stderr,
                        flush=True,
                    )
                self.exit(ENGINE_GONE_EXIT)
                return
            self.sleep(self.interval_s)


def start_engine_watchdog() -> Watchdog | None:
    """Start the watchdog once per process, only inside the engine's plugin process."""
    address = engine_address()
    if address is None:
        return None
    with _started:
        if _running:
            return _running[0]
        dog = Watchdog(address)
        threading.Thread(target=dog.run, name="engine-watchdog", daemon=True).start()
        _running.append(dog)
        return dog
