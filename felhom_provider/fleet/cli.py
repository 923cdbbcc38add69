"""``felhom fleet ...`` and ``python -m felhom_provider.fleet ...``: the command line.

Exit status: 0 when every selected stack succeeded, 1 when any failed or was skipped by the
failure threshold, 2 when the only problem was stacks another runner held (``--on-locked
skip``), 64 for usage errors (including ``destroy`` without ``--yes-destroy``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]
from rich.console import Console
from rich.table import Table

from felhom_provider.errors import ConfigError
from felhom_provider.fleet import inventory
from felhom_provider.fleet.progress import Progress
from felhom_provider.fleet.report import FAILED, LOCKED, SKIPPED, FleetReport, print_summary
from felhom_provider.fleet.runner import FleetRunner, RunOptions
from felhom_provider.fleet.stacks import Selection, StackInfo, discover, select
from felhom_provider.fleet.waves import Bounds
from felhom_provider.fleet.workspace import FleetEnv

EX_USAGE = 64
RUN_COMMANDS = ("preview", "up", "refresh", "destroy", "outputs")


def _selection_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("stacks", nargs="*", help="stack names or globs (default: every stack)")
    p.add_argument("--tag", action="append", default=[], help="only stacks with this fleet tag")
    p.add_argument("--exclude", action="append", default=[], help="drop stacks matching this")
    p.add_argument("--project", type=Path, default=None, help="project dir (default: cwd)")


def _run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--parallel", type=int, default=4, help="stacks at once (default 4)")
    p.add_argument(
        "--per-node", type=int, default=0, help="stacks at once on one PVE node (0: no bound)"
    )
    p.add_argument(
        "--node-restores",
        type=int,
        default=0,
        help="restores at once on one PVE node across all stacks (0: each stack's own bound)",
    )
    p.add_argument(
        "--start-parallel",
        type=int,
        default=0,
        help="stacks starting up (CLI, program, provider) at once (0: two per CPU)",
    )
    p.add_argument("--canary", type=int, default=0, help="stacks in the first wave")
    p.add_argument("--wave-size", type=int, default=0, help="stacks per later wave (0: all)")
    p.add_argument(
        "--max-failures", type=int, default=0, help="stop starting stacks after more failures"
    )
    p.add_argument(
        "--pulumi-parallel",
        type=int,
        default=None,
        help="resource operations per stack (default: from its restoresPerNode)",
    )
    p.add_argument(
        "--on-locked",
        choices=("wait", "skip"),
        default="wait",
        help="a stack another runner holds: wait for it or skip it",
    )
    p.add_argument("--lock-wait", type=float, default=900.0, help="seconds to wait for a lock")
    p.add_argument("--report", type=Path, default=None, help="write the JSON report here")
    p.add_argument("--no-live", action="store_true", help="plain lines instead of a live table")


def build_parser(prog: str, fleet_only: bool) -> argparse.ArgumentParser:
    """The argument parser; ``fleet_only`` drops the leading ``fleet`` word."""
    parser = argparse.ArgumentParser(prog=prog, description="Felhom customer stacks, as a fleet")
    if fleet_only:
        commands = parser.add_subparsers(dest="command", required=True)
    else:
        top = parser.add_subparsers(dest="group", required=True)
        fleet = top.add_parser("fleet", help="run Pulumi over many customer stacks")
        commands = fleet.add_subparsers(dest="command", required=True)
    _selection_args(commands.add_parser("list", help="the selected stacks, nodes and tags"))
    for name in RUN_COMMANDS:
        sub = commands.add_parser(name, help=f"pulumi {name} on every selected stack")
        _selection_args(sub)
        _run_args(sub)
        if name == "destroy":
            sub.add_argument(
                "--yes-destroy", action="store_true", help="really destroy the selected stacks"
            )
    inv = commands.add_parser("inventory", help="Ansible inventory, known_hosts and JSON")
    _selection_args(inv)
    _run_args(inv)
    inv.add_argument(
        "--out", type=Path, default=None, help="output directory (default .felhom/inventory)"
    )
    return parser


def _stacks(args: argparse.Namespace, project: Path) -> list[StackInfo]:
    selection = Selection(tuple(args.stacks), tuple(args.tag), tuple(args.exclude))
    return select(discover(project), selection)


def _list(stacks: list[StackInfo], console: Console) -> int:
    table = Table(title=f"{len(stacks)} stack(s)")
    for column in ("stack", "node", "tags", "config file"):
        table.add_column(column)
    for s in stacks:
        table.add_row(s.name, s.node, ", ".join(s.tags), str(s.path))
    console.print(table)
    return 0


def _run(
    operation: str, args: argparse.Namespace, stacks: list[StackInfo], fleet: FleetEnv
) -> FleetReport:
    console = Console(stderr=operation in ("outputs", "inventory"))
    options = RunOptions(
        operation=operation,
        bounds=Bounds(args.parallel, args.per_node, args.max_failures),
        canary=args.canary,
        wave_size=args.wave_size,
        pulumi_parallel=args.pulumi_parallel,
        on_locked=args.on_locked,
        lock_wait_s=args.lock_wait,
        start_parallel=args.start_parallel,
    )
    title = f"felhom fleet {operation} ({fleet.backend_label})"
    with Progress(console, title, live=False if args.no_live else None) as progress:
        report = FleetRunner(fleet, options, progress).run(stacks)
    print_summary(report, console)
    if args.report:
        report.write(args.report)
        console.print(f"report: {args.report}")
    return report


def _write_inventory(report: FleetReport, stacks: list[StackInfo], out: Path) -> dict[str, Path]:
    outputs: dict[str, Any] = {r.stack: r.outputs or {} for r in report.results if r.outputs}
    ports = {s.name: s.guest_ssh_port for s in stacks}
    guests = inventory.guests_of(outputs, ports)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "ansible": out / "inventory.yaml",
        "known_hosts": out / "known_hosts",
        "json": out / "inventory.json",
    }
    paths["ansible"].write_text(yaml.safe_dump(inventory.ansible_inventory(guests), sort_keys=True))
    paths["known_hosts"].write_text(inventory.known_hosts(guests))
    document = inventory.inventory_document(outputs, ports)
    paths["json"].write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    return paths


def exit_status(report: FleetReport) -> int:
    """0 all succeeded, 1 failures or threshold skips, 2 only locked stacks skipped."""
    if report.by_result(FAILED) or report.by_result(SKIPPED):
        return 1
    return 2 if report.by_result(LOCKED) else 0


def run(argv: Sequence[str], prog: str = "felhom", fleet_only: bool = False) -> int:
    """Parse ``argv`` and run the command; returns the exit status."""
    args = build_parser(prog, fleet_only).parse_args(argv)
    project = (args.project or Path.cwd()).resolve()
    console = Console()
    try:
        stacks = _stacks(args, project)
    except (ConfigError, OSError) as exc:
        console.print(f"[red]error:[/] {exc}")
        return EX_USAGE
    if args.command == "list":
        return _list(stacks, console)
    if args.command == "destroy" and not args.yes_destroy:
        console.print("[red]refusing to destroy without --yes-destroy[/]")
        return EX_USAGE
    for flag in ("node_restores", "start_parallel"):
        if getattr(args, flag, 0) < 0:
            console.print(f"[red]error:[/] --{flag.replace('_', '-')} must be >= 0")
            return EX_USAGE
    fleet = FleetEnv.from_environ(project, os.environ)
    if getattr(args, "node_restores", 0):
        fleet = fleet.with_node_restores(args.node_restores)
    operation = "outputs" if args.command == "inventory" else args.command
    report = _run(operation, args, stacks, fleet)
    if args.command == "outputs":
        outputs = {r.stack: r.outputs for r in report.results if r.outputs is not None}
        print(json.dumps(outputs, indent=2, sort_keys=True))
    if args.command == "inventory":
        out = args.out or project / ".felhom" / "inventory"
        for kind, path in _write_inventory(report, stacks, out).items():
            console.print(f"{kind}: {path}")
    return exit_status(report)


def main(prog: str = "felhom", fleet_only: bool = False) -> None:
    """Console-script entry point."""
    sys.exit(run(sys.argv[1:], prog=prog, fleet_only=fleet_only))
