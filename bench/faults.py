"""Fault-profile benchmark: a fleet brought up with the real Pulumi CLI, with and without
the simulator's ``transient-fleet`` fault profile.

For each scenario it starts the simulator as its own process (``--faults transient-fleet``
with a fixed seed for the faulty one), creates a stack with a golden image and N guests and
runs ``pulumi up --yes`` until it succeeds (at most ``--max-runs``). It prints, per
scenario: the ``pulumi up`` runs needed (goal: 1), guests rolled back (destroy calls the
simulator saw, less the golden build's own build CT; nothing else deletes in these runs),
PVE requests per guest (everything but the simulator's own control API) and the wall time,
then the faulty run's wall time over the clean one. The last line is one JSON object with
every figure.

Usage: ``python bench/faults.py [--guests 16] [--seed 20261129] [--time-scale 0]``
(``make bench-faults``). Needs the toolchain from ``make setup`` (``FELHOM_PULUMI_BIN``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.e2e.pulumi_cli import PulumiProject, copy_project, pulumi_bin_dir
from tests.e2e.test_stack_lifecycle import Sim, dev_config, make_project

DESTROY = "DELETE /nodes/{node}/lxc/{vmid}"


@dataclass
class Figures:
    """What one scenario measured."""

    scenario: str
    guests: int
    up_runs: int
    converged: bool
    rolled_back: int
    requests_per_guest: float
    wall_s: float


def fleet(n: int) -> list[dict[str, object]]:
    """N small guests, none pinned."""
    return [{"name": f"bench-{i}", "cores": 1, "memory": 512, "rootfsGiB": 8} for i in range(n)]


def scenario(name: str, n: int, sim_args: tuple[str, ...], args: argparse.Namespace) -> Figures:
    """Bring a fresh stack of ``n`` guests up against a fresh simulator; measure it."""
    with tempfile.TemporaryDirectory(prefix=f"felhom-bench-{name}-") as tmp:
        base = Path(tmp)
        sim = Sim(base / "sim", time_scale=args.time_scale, extra_args=sim_args)
        bin_dir = pulumi_bin_dir()

        def factory(source: Path) -> PulumiProject:
            workdir = copy_project(source, base / "project")
            (base / "pulumi-state" / "backend").mkdir(parents=True)
            return PulumiProject(workdir=workdir, state_dir=base / "pulumi-state", bin_dir=bin_dir)

        try:
            project = make_project(factory, base / "src", sim, dev_config(**{
                "felhom:guests": fleet(n)}))  # fmt: skip
            started = time.monotonic()
            runs, ok = 0, False
            while runs < args.max_runs and not ok:
                runs += 1
                ok = project.run("up", "--yes", check=False, timeout=3600).returncode == 0
            wall = time.monotonic() - started
            counts = sim.audit()["requests"]
            pve = sum(v for k, v in counts.items() if "/_sim/" not in k)
            return Figures(
                scenario=name,
                guests=n,
                up_runs=runs,
                converged=ok,
                # The golden build destroys its build CT once; every other destroy in these
                # runs is a rollback.
                rolled_back=max(0, int(counts.get(DESTROY, 0)) - 1),
                requests_per_guest=round(pve / n, 1),
                wall_s=round(wall, 1),
            )
        finally:
            sim.stop()


def main() -> int:
    """Run both scenarios and print the table and the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--guests", type=int, default=16)
    parser.add_argument("--seed", type=int, default=20261129)
    parser.add_argument("--time-scale", type=float, default=0.0)
    parser.add_argument("--max-runs", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("FELHOM_PULUMI_BIN", str(pulumi_bin_dir()))
    clean = scenario("no-fault", args.guests, (), args)
    faulty = scenario(
        "transient-fleet",
        args.guests,
        ("--faults", "transient-fleet", "--fault-seed", str(args.seed)),
        args,
    )
    print(f"{'scenario':<16} {'N':>3} {'up runs':>7} {'rolled back':>11} "
          f"{'PVE req/guest':>13} {'wall s':>7}")  # fmt: skip
    for f in (clean, faulty):
        print(f"{f.scenario:<16} {f.guests:>3} {f.up_runs:>7} {f.rolled_back:>11} "
              f"{f.requests_per_guest:>13} {f.wall_s:>7}")  # fmt: skip
    ratio = faulty.wall_s / clean.wall_s if clean.wall_s else float("nan")
    print(f"wall time, transient-fleet over no-fault: {ratio:.2f}x")
    print(json.dumps({"clean": asdict(clean), "faulty": asdict(faulty), "wall_ratio": ratio}))
    return 0 if faulty.converged and clean.converged else 1


if __name__ == "__main__":
    sys.exit(main())
