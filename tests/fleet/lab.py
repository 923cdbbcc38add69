"""A fleet of customer stacks against one simulator: shared by the fleet e2e tests and bench.

``Lab`` runs the simulator as its own process, builds one golden archive, and writes customer
projects: a copy of the real ``Pulumi.yaml`` and ``__main__.py`` with ``stacks/Pulumi.<name>.yaml``
files (endpoint, node shell, the archive, N guests, limits, fleet tags). ``init_stacks`` creates
the stacks in a backend and stores the token secret as a secret, as an operator would.
The runner itself is started as ``python -m felhom_provider.fleet`` in a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]
from pulumi import automation as auto

from felhom_provider.fleet.stacks import read_stack
from felhom_provider.fleet.workspace import FleetEnv, open_stack, prepare_backend
from felhom_provider.guest.ssh import NodeShellSettings, ParamikoNodeShell
from felhom_provider.reconcile import GoldenEngine, GoldenSpec
from tests.e2e.test_stack_lifecycle import Sim

REPO = Path(__file__).resolve().parents[2]
VENV = REPO / ".venv"
TEMPLATE = "local:vztmpl/debian-13-standard_13.1-2_amd64.tar.zst"
PASSPHRASE = "fleet-e2e-passphrase"


class Lab:
    """The simulator process, its endpoint and one golden archive."""

    def __init__(self, root: Path, time_scale: float = 0.0) -> None:
        self.root = root
        self.sim = Sim(root / "sim", time_scale)
        self.log = self.sim.log
        self.endpoint: dict[str, Any] = self.sim.endpoint
        self.client = self.sim.client
        self.archive = self._build_golden()

    def _build_golden(self) -> str:
        ns = self.endpoint["node_shell"]
        shell = ParamikoNodeShell(
            NodeShellSettings(
                host=ns["host"],
                port=ns["port"],
                user=ns["user"],
                host_key=ns["host_public_key"],
                key_file=ns["client_private_key_path"],
            )
        )
        spec = GoldenSpec(name="golden", owner="lab/golden", node=self.node, template=TEMPLATE)
        return GoldenEngine(self.client, shell).build(spec).archive

    @property
    def node(self) -> str:
        return str(self.endpoint["node"])

    @property
    def secret(self) -> str:
        return str(self.endpoint["tokens"]["agent"]["secret"])

    def cts(self) -> list[dict[str, Any]]:
        """Every CT on the simulated node."""
        return self.client.list_lxc()

    def stop(self) -> None:
        self.sim.stop()

    def stack_config(
        self,
        name: str,
        guests: int,
        *,
        tags: Sequence[str] = (),
        restores_per_node: int = 4,
        archive: str | None = None,
    ) -> dict[str, Any]:
        """A customer stack's plain config (the token secret is set by ``init_stacks``)."""
        ep, ns = self.endpoint, self.endpoint["node_shell"]
        return {
            "felhom:pve": {
                "endpoint": ep["api_url"],
                "node": self.node,
                "tokenId": ep["tokens"]["agent"]["id"],
                "tlsFingerprint": ep["tls_fingerprint_sha256"],
            },
            "felhom:nodeShell": {
                "host": ns["host"],
                "port": ns["port"],
                "user": ns["user"],
                "hostKey": ns["host_public_key"],
                "privateKeyPath": ns["client_private_key_path"],
            },
            "felhom:guestSshPort": ep.get("guest_ssh_port", 22),
            "felhom:protect": False,
            "felhom:limits": {"restoresPerNode": restores_per_node},
            "felhom:golden": {"archive": archive or self.archive},
            "felhom:fleet": {"tags": list(tags)},
            "felhom:guests": [
                {"name": f"{name}-g{i}", "cores": 1, "memory": 512, "rootfsGiB": 8}
                for i in range(guests)
            ],
        }


def make_project(directory: Path) -> Path:
    """A copy of the real project (absolute virtualenv) with an empty ``stacks/``."""
    (directory / "stacks").mkdir(parents=True)
    text = (REPO / "Pulumi.yaml").read_text().replace("virtualenv: .venv", f"virtualenv: {VENV}")
    (directory / "Pulumi.yaml").write_text(text)
    (directory / "__main__.py").write_text((REPO / "__main__.py").read_text())
    return directory


def write_stack(project: Path, name: str, config: dict[str, Any]) -> Path:
    """``stacks/Pulumi.<name>.yaml`` with ``config``."""
    path = project / "stacks" / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump({"config": config}, sort_keys=True))
    return path


def runner_env(backend_url: str, **extra: str) -> dict[str, str]:
    """The environment a runner process gets: backend, passphrase, the toolchain."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    env.update(
        FELHOM_BACKEND_URL=backend_url,
        PULUMI_CONFIG_PASSPHRASE=PASSPHRASE,
        FELHOM_PULUMI_BIN=(VENV / "pulumi-bin").read_text().strip(),
        **extra,
    )
    return env


def init_stacks(project: Path, names: Sequence[str], backend_url: str, secret: str) -> None:
    """Create the stacks in the backend and set the token secret, as an operator would."""
    fleet = FleetEnv.from_environ(project, runner_env(backend_url))

    def init(name: str) -> None:
        stack = open_stack(
            fleet, read_stack(project / "stacks" / f"Pulumi.{name}.yaml"), create=True
        )
        stack.set_config("felhom:pveTokenSecret", auto.ConfigValue(secret, secret=True))

    prepare_backend(fleet)
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(init, names))


@dataclass
class RunnerResult:
    """A finished runner process: exit status, output and its JSON report."""

    returncode: int
    output: str
    report: dict[str, Any]

    def results(self) -> dict[str, str]:
        return {s["stack"]: s["result"] for s in self.report["stacks"]}

    def stack(self, name: str) -> dict[str, Any]:
        return next(s for s in self.report["stacks"] if s["stack"] == name)


def start_runner(
    project: Path, backend_url: str, args: Sequence[str], report: Path
) -> subprocess.Popen[str]:
    """``python -m felhom_provider.fleet <args> --report <report>`` in the background."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "felhom_provider.fleet",
            *args,
            "--project",
            str(project),
            "--report",
            str(report),
            "--no-live",
        ],
        env=runner_env(backend_url, COLUMNS="200"),
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish_runner(proc: subprocess.Popen[str], report: Path, timeout: float = 600) -> RunnerResult:
    """Wait for a runner and read its report."""
    output, _ = proc.communicate(timeout=timeout)
    parsed = json.loads(report.read_text()) if report.is_file() else {"stacks": []}
    return RunnerResult(proc.returncode, output, parsed)


def run_runner(project: Path, backend_url: str, args: Sequence[str], report: Path) -> RunnerResult:
    """Run the runner to completion."""
    return finish_runner(start_runner(project, backend_url, args, report), report)
