"""Fleet benchmark: one big stack's `up`, and many small stacks through the fleet runner.

Against the simulator (its own process) at a stated time scale, with the real Pulumi CLI:

1. one stack of 48 guests, ``restoresPerNode`` 16, ``pulumi up --parallel 64``. Its task-time
   bound: restores run 16 at a time, so ``ceil(48 / 16) x vzrestore + vzstart``, scaled;
2. 50 stacks x 2 guests through ``FleetRunner`` (``--parallel P``, ``restoresPerNode`` 2,
   ``--node-restores R``: at most R restores on the node at once, across all stacks). Its
   bound: ``ceil(100 / R)`` rounds of ``vzrestore + vzstart``, scaled;
3. the same 50 stacks again with nothing to change: the runner's overhead per stack (CLI,
   program and provider start, state read and write) as the mean per-stack time.

Prints wall time over bound for 1 and 2, the overhead per stack, and peak memory (this
process, which runs the runner; and the largest child: a ``pulumi`` or provider process).
The last line is one JSON object with every figure.

Usage: ``python bench/fleet.py [--time-scale 0.5] [--parallel 20] [--node-restores 20]
[--postgres]``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console

from felhom_provider.fleet.pgserver import LocalPostgres
from felhom_provider.fleet.progress import Progress
from felhom_provider.fleet.runner import FleetRunner, RunOptions
from felhom_provider.fleet.stacks import discover
from felhom_provider.fleet.waves import Bounds
from felhom_provider.fleet.workspace import FleetEnv
from felhom_provider.sim.clock import DEFAULT_DURATIONS
from tests.fleet.lab import Lab, init_stacks, make_project, runner_env, write_stack

RESTORE, START = DEFAULT_DURATIONS["vzrestore"], DEFAULT_DURATIONS["vzstart"]


def run_fleet(
    project: Path, backend: str, names: list[str], options: RunOptions, node_restores: int = 0
) -> Any:
    """Run the runner in this process over ``names``; returns (report, wall seconds)."""
    fleet = FleetEnv.from_environ(project, runner_env(backend))
    if node_restores:
        fleet = fleet.with_node_restores(node_restores)
    stacks = [s for s in discover(project) if s.name in names]
    console = Console(file=open(os.devnull, "w"))  # noqa: SIM115 (lives for the run)
    started = time.monotonic()
    with Progress(console, "bench", live=False) as progress:
        report = FleetRunner(fleet, options, progress).run(stacks)
    wall = time.monotonic() - started
    for r in report.results:
        if r.result != "succeeded":
            # Reported, not fatal: the figures say how many stacks did not make it.
            first = (r.error or "").splitlines()[-1:] or [""]
            print(f"  {r.stack} {r.result}: {first[0][:200]}", file=sys.stderr, flush=True)
    return report, wall


def failures(report: Any) -> int:
    """Stacks of ``report`` that did not succeed."""
    return sum(1 for r in report.results if r.result != "succeeded")


def main(argv: list[str] | None = None) -> int:
    """Run the three measurements and print the table and the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-scale", type=float, default=0.5)
    parser.add_argument("--big", type=int, default=48, help="guests in the big stack")
    parser.add_argument("--big-restores", type=int, default=16)
    parser.add_argument("--stacks", type=int, default=50)
    parser.add_argument("--parallel", type=int, default=20, help="stacks at once")
    parser.add_argument("--node-restores", type=int, default=20, help="restores at once")
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL state backend")
    args = parser.parse_args(argv)
    scale = args.time_scale
    figures: dict[str, Any] = {"time_scale": scale, "backend": "file"}
    with tempfile.TemporaryDirectory(prefix="felhom-fleet-bench-") as tmp_dir:
        tmp = Path(tmp_dir)
        pg = LocalPostgres().start() if args.postgres else None
        lab = Lab(tmp / "lab", time_scale=scale)
        try:
            backend = pg.url if pg else f"file://{tmp / 'backend'}"
            (tmp / "backend").mkdir()
            figures["backend"] = "postgres" if pg else "file"
            project = make_project(tmp / "project")
            write_stack(
                project,
                "big",
                lab.stack_config("big", args.big, restores_per_node=args.big_restores),
            )
            small = [f"c{i:03d}" for i in range(args.stacks)]
            for name in small:
                write_stack(project, name, lab.stack_config(name, 2, restores_per_node=2))
            init_stacks(project, ["big", *small], backend, lab.secret)
            print("  stacks ready", file=sys.stderr, flush=True)

            big_opts = RunOptions("up", Bounds(parallel=1), pulumi_parallel=4 * args.big)
            report, wall = run_fleet(project, backend, ["big"], big_opts)
            bound = (math.ceil(args.big / args.big_restores) * RESTORE + START) * scale
            figures["big"] = {
                "guests": args.big,
                "restores_per_node": args.big_restores,
                "wall_s": round(wall, 1),
                "bound_s": round(bound, 1),
                "ratio": round(wall / bound, 3),
                "failed_stacks": failures(report),
            }
            print(f"  done: big stack {wall:.1f} s", file=sys.stderr, flush=True)

            p, r = args.parallel, args.node_restores
            bounds = Bounds(parallel=p, max_failures=args.stacks)
            fleet_opts = RunOptions("up", bounds, pulumi_parallel=8)
            report, wall = run_fleet(project, backend, small, fleet_opts, node_restores=r)
            bound = math.ceil(2 * args.stacks / r) * (RESTORE + START) * scale
            figures["fleet"] = {
                "stacks": args.stacks,
                "guests_per_stack": 2,
                "parallel": p,
                "node_restore_bound": r,
                "wall_s": round(wall, 1),
                "bound_s": round(bound, 1),
                "ratio": round(wall / bound, 3),
                "failed_stacks": failures(report),
            }
            print(f"  done: fleet up {wall:.1f} s", file=sys.stderr, flush=True)

            report, wall = run_fleet(project, backend, small, fleet_opts, node_restores=r)
            per_stack = sum(r.duration_s for r in report.results) / len(report.results)
            figures["noop"] = {
                "wall_s": round(wall, 1),
                "per_stack_s": round(per_stack, 2),
                "wall_per_stack_s": round(wall / args.stacks, 2),
                "failed_stacks": failures(report),
            }
        finally:
            lab.stop()
            if pg:
                pg.stop()
    figures["peak_rss_mib"] = {
        "runner": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "largest_child": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
    }
    big, fleet, noop = figures["big"], figures["fleet"], figures["noop"]
    print(f"Fleet benchmark (simulator time scale {scale}, {figures['backend']} backend)")
    print(f"{'run':<44} {'wall s':>8} {'bound s':>8} {'wall/bound':>11}")
    print("-" * 74)
    print(
        f"{f'1 stack x {args.big} guests, restoresPerNode {args.big_restores}':<44} "
        f"{big['wall_s']:>8} {big['bound_s']:>8} {big['ratio']:>11}"
    )
    print(
        f"{f'{args.stacks} stacks x 2 guests, {p} at once, {r} restores/node':<44} "
        f"{fleet['wall_s']:>8} {fleet['bound_s']:>8} {fleet['ratio']:>11}"
    )
    failed = big["failed_stacks"] + fleet["failed_stacks"] + noop["failed_stacks"]
    if failed:
        print(f"stacks that failed (see the lines above): {failed}")
    print(
        f"runner overhead per stack (no-op up): {noop['wall_per_stack_s']} s of wall time per "
        f"stack at {p} in parallel (each stack's own run, start-gate wait included: "
        f"{noop['per_stack_s']} s)"
    )
    rss = figures["peak_rss_mib"]
    print(f"peak RSS: runner {rss['runner']} MiB, largest child {rss['largest_child']} MiB")
    print(json.dumps(figures, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
