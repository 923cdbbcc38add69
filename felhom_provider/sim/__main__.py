"""``python -m felhom_provider.sim serve --state-dir DIR [...]``: run the simulator.

Writes ``DIR/endpoint.json`` atomically once the API serves and exits cleanly (status 0)
on SIGTERM or SIGINT. Faults can be installed at start with ``--fault-http`` and
``--fault-task`` (JSON objects with the control API's fields), or a whole named profile with
``--faults transient-fleet --fault-seed N``.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from felhom_provider.sim.faults import PRESETS
from felhom_provider.sim.hooks import Extensions, load_extensions
from felhom_provider.sim.server import SimServer
from felhom_provider.sim.state import SimSettings


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(prog="python -m felhom_provider.sim")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the simulated PVE API over HTTPS on loopback")
    serve.add_argument("--state-dir", required=True, type=Path)
    serve.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    serve.add_argument("--api-port", type=int, default=0, help="0 = any free port")
    serve.add_argument("--time-scale", type=float, default=0.0, help="0 = tasks are instant")
    serve.add_argument(
        "--lock-wait", type=float, default=10.0, help="config flock wait (PVE: 10 s)"
    )
    serve.add_argument("--node", default="pve-sim")
    serve.add_argument("--no-extensions", action="store_true", help="skip guest model / node shell")
    serve.add_argument(
        "--fault-http",
        action="append",
        default=[],
        metavar="JSON",
        help='e.g. {"method":"PUT","path":"/nodes/{node}/lxc/{vmid}/config","times":2}',
    )
    serve.add_argument(
        "--fault-task",
        action="append",
        default=[],
        metavar="JSON",
        help='e.g. {"type":"vzstart","exitstatus":"startup failed","vmid":101}',
    )
    serve.add_argument(
        "--faults",
        choices=sorted(PRESETS),
        help="install a named fault profile (see felhom_provider.sim.faults.PRESETS)",
    )
    serve.add_argument("--fault-seed", type=int, default=0, help="seed of --faults' draws")
    serve.add_argument("-v", "--verbose", action="store_true")
    return parser


def serve(args: argparse.Namespace) -> int:
    """Run until SIGTERM/SIGINT."""
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    ext = Extensions() if args.no_extensions else load_extensions()
    settings = SimSettings(node=args.node, lock_wait=args.lock_wait)
    sim = SimServer(
        args.state_dir,
        host=args.host,
        port=args.api_port,
        time_scale=args.time_scale,
        settings=settings,
        extensions=ext,
    )
    if args.faults:
        sim.state.faults.install_preset(args.faults, args.fault_seed)
    for spec in args.fault_http:
        rule = dict(json.loads(spec))
        sim.add_http_fault(rule.pop("method"), rule.pop("path"), **rule)
    for spec in args.fault_task:
        rule = dict(json.loads(spec))
        sim.add_task_fault(rule.pop("type"), rule.pop("exitstatus"), **rule)
    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    sim.start()
    logging.getLogger("felhom_provider.sim").info(
        "serving %s (node %s)", sim.endpoint["api_url"], sim.state.node
    )
    while not done.wait(0.5):
        pass
    sim.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return serve(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
