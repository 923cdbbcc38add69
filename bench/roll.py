"""Roll-out benchmark: each guest's downtime while it rolls onto a new golden image.

Starts the simulator in a subprocess at a time scale, builds two golden archives (the one
the guests start on and the new one), brings N guests up with a data mount and a file in
it, then rolls them onto the new archive one at a time (the default staging). For every
guest it prints the **downtime** (from the shutdown of the old root filesystem to the
verified new one, read from the engine's step log) next to the simulator's task time for
the same steps (shutdown, two ``move_volume`` per data mount, vzdump, restore, start), so
what the engine adds on top of PVE's own work shows. The last line is one JSON object.

Usage: ``python bench/roll.py [--time-scale 0.25] [--guests 3]``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from felhom_provider.pve import PveClient, PveEndpoint
from felhom_provider.reconcile import GoldenEngine, GoldenSpec, GuestEngine
from felhom_provider.reconcile.roll import RollEngine
from felhom_provider.reconcile.rollout import RolloutGate, RolloutSettings
from felhom_provider.sim.clock import DEFAULT_DURATIONS

# The simulator start-up and guest helpers of the bring-up benchmark (bench/ is no package).
_bringup = importlib.import_module("bringup")
TEMPLATE: str = _bringup.TEMPLATE
guest_spec = _bringup.guest_spec
node_shell = _bringup.node_shell
start_simulator = _bringup.start_simulator


class StepClock:
    """Progress sink that timestamps every step line (monotonic seconds)."""

    def __init__(self) -> None:
        self.lines: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def __call__(self, line: str) -> None:
        with self._lock:
            self.lines.append((time.monotonic(), line))

    def span(self, name: str, start: str, end: str) -> float:
        """Seconds from the first ``start`` line of guest ``name`` to its ``end`` line."""
        mine = [(t, line) for t, line in self.lines if line.startswith(f"{name}: ")]
        t0 = next(t for t, line in mine if start in line)
        t1 = next(t for t, line in mine if end in line and t >= t0)
        return t1 - t0


def task_bound(mounts: int, time_scale: float) -> float:
    """The simulator's task time for the downtime steps of one guest."""
    d = DEFAULT_DURATIONS
    move = d.get("move_volume", 0.0)
    steps = d["vzshutdown"] + 2 * mounts * move + d["vzdump"] + d["vzrestore"] + d["vzstart"]
    return steps * time_scale


def golden(client: PveClient, endpoint: dict[str, Any], name: str) -> str:
    """Build a golden archive over the node shell; its volid."""
    spec = GoldenSpec(name=name, owner=f"bench/{name}", node=endpoint["node"], template=TEMPLATE)
    return GoldenEngine(client, node_shell(endpoint)).build(spec).archive


def main(argv: list[str] | None = None) -> int:
    """Run the roll benchmark and print the table and the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-scale", type=float, default=0.25)
    parser.add_argument("--guests", type=int, default=3)
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="felhom-bench-roll-") as tmp:
        proc, endpoint = start_simulator(Path(tmp) / "sim", args.time_scale)
        try:
            client = PveClient(PveEndpoint.from_endpoint_json(endpoint))
            shell = node_shell(endpoint)
            port = int(endpoint["guest_ssh_port"])
            old, new = golden(client, endpoint, "golden-a"), golden(client, endpoint, "golden-b")
            creator = GuestEngine(client, shell, guest_ssh_port=port)
            specs = [guest_spec(endpoint, old, f"roll-{i}", None) for i in range(args.guests)]
            vmids = [creator.create(spec).vmid for spec in specs]
            for vmid in vmids:
                shell.exec(vmid, ["sh", "-c", "echo kept > /mnt/data/kept.txt"]).check()
            steps = StepClock()
            roller = RollEngine(client, shell, guest_ssh_port=port, progress=steps)
            gate = RolloutGate("bench", RolloutSettings())
            started = time.monotonic()
            for spec, vmid in zip(specs, vmids, strict=True):
                t0 = time.monotonic()
                roller.roll(vmid, replace(spec, archive=new), gate=gate)
                total = time.monotonic() - t0
                kept = shell.exec(vmid, ["cat", "/mnt/data/kept.txt"]).check().stdout.strip()
                down = steps.span(spec.name, f"shutting down CT {vmid}", "verified on")
                bound = task_bound(len(spec.mounts), args.time_scale)
                rows.append(
                    {
                        "guest": spec.name,
                        "vmid": vmid,
                        "downtime_s": round(down, 2),
                        "task_time_s": round(bound, 2),
                        "downtime_over_tasks": round(down / bound, 3),
                        "roll_s": round(total, 2),
                        "data_kept": kept == "kept",
                    }
                )
                print(f"  rolled {spec.name}", file=sys.stderr, flush=True)
            wall = time.monotonic() - started
            stats = client.stats.snapshot()
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print(f"Roll-out benchmark (simulator time scale {args.time_scale}, one guest at a time)")
    header = (
        f"{'guest':<8} {'vmid':>5} {'downtime s':>11} {'task time s':>12} {'ratio':>7} "
        f"{'roll s':>8} {'data kept':>10}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['guest']:<8} {r['vmid']:>5} {r['downtime_s']:>11} {r['task_time_s']:>12} "
            f"{r['downtime_over_tasks']:>7} {r['roll_s']:>8} {r['data_kept']!s:>10}"
        )
    summary = {
        "time_scale": args.time_scale,
        "guests": rows,
        "fleet_wall_s": round(wall, 2),
        "requests_total": stats.get("total"),
    }
    print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
