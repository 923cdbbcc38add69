"""One acceptance run's Pulumi stack: the real project, the real CLI, a temporary backend.

The project (``Pulumi.yaml``, ``__main__.py``) is copied into a temporary directory with a
file backend, its own ``PULUMI_HOME`` and a random passphrase, exactly as the end-to-end tests
run it (``tests/e2e/pulumi_cli.py``). The stack is named ``felhom-acceptance-<8 hex>``, which
puts the suite's marker into every CT and archive the product makes (see ``guard``). Every
mutating command is preceded by the guard's check of the guests the stack holds.
"""

from __future__ import annotations

import json
import secrets
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from tests.acceptance.guard import Guard
from tests.acceptance.target import Target
from tests.e2e.pulumi_cli import (
    REPO,
    PulumiCommandError,
    PulumiProject,
    copy_project,
    pulumi_bin_dir,
)

#: Commands that change guests on the node; the guard checks the stack's guests first.
MUTATING = ("up", "destroy")
TAG = "felhom-acceptance"


@dataclass(frozen=True)
class Plan:
    """The VMIDs this run uses: the golden build CT and one per guest (plus a spare)."""

    golden: int
    guests: tuple[int, ...]
    spare: int


def guest_entry(name: str, vmid: int, target: Target) -> dict[str, Any]:
    """A small customer guest: pinned VMID in the range, a data mount, the suite's tag."""
    return {
        "name": name,
        "hostname": name,
        "vmid": vmid,
        "cores": 1,
        "memory": 512,
        "swap": 256,
        "rootfsStorage": target.rootfs_storage,
        "rootfsGiB": 8,
        "bridge": target.bridge,
        "mounts": [{"storage": target.rootfs_storage, "sizeGiB": 1, "path": "/mnt/data"}],
        "tags": [TAG],
    }


def stack_file(target: Target, plan: Plan) -> dict[str, Any]:
    """The stack's YAML config: golden build pinned to the range, the guests, no protect."""
    names = [f"acc-{i + 1}" for i in range(len(plan.guests))]
    return {
        "config": {
            "felhom:protect": "false",
            "felhom:golden": {
                "build": {
                    "template": target.template,
                    "rootfsStorage": target.rootfs_storage,
                    "rootfsGiB": 8,
                    "bridge": target.bridge,
                    "archiveStorage": target.archive_storage,
                    "buildVmid": plan.golden,
                    # The build CT's VMID is the golden build's reserved range (guests may not
                    # use it; the default 9000-9099 may not be inside FELHOM_ACC_VMIDS).
                    "reservedVmids": {"first": plan.golden, "last": plan.golden},
                }
            },
            "felhom:guests": [
                guest_entry(n, v, target) for n, v in zip(names, plan.guests, strict=True)
            ],
        }
    }


@dataclass
class SuiteStack:
    """The run's stack and every command output seen (for the secret check)."""

    project: PulumiProject
    name: str
    target: Target
    plan: Plan
    guard: Guard
    guest_config: list[dict[str, Any]] = field(default_factory=list)
    outputs_seen: list[str] = field(default_factory=list)

    @classmethod
    def create(cls, base: Path, target: Target, plan: Plan, guard: Guard, name: str) -> SuiteStack:
        """Copy the project to ``base``, init the stack, write its config and secret."""
        src = base / "src"
        (src / "stacks").mkdir(parents=True)
        for file in ("Pulumi.yaml", "__main__.py"):
            (src / file).write_text((REPO / file).read_text())
        config = stack_file(target, plan)
        (src / "stacks" / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        workdir = copy_project(src, base / "project")
        state = base / "pulumi-state"
        (state / "backend").mkdir(parents=True)
        project = PulumiProject(
            workdir,
            state,
            pulumi_bin_dir(),
            extra_env={"PULUMI_CONFIG_PASSPHRASE": secrets.token_urlsafe(24)},
        )
        project.stack_init(name)
        plain = target.stack_config()
        args = [a for k, v in plain.items() for a in ("--plaintext", f"{k}={v}")]
        project.run("config", "set-all", "--path", *args)
        # From stdin: the secret is never on a command line or in any command's output.
        project.run(
            "config",
            "set",
            "--secret",
            "felhom:pveTokenSecret",
            input_text=target.endpoint.token_secret,
        )
        return cls(project, name, target, plan, guard, list(config["config"]["felhom:guests"]))

    def pulumi(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a pulumi command; mutating ones only after the guard's check."""
        if args and args[0] in MUTATING and self.has_outputs():
            self.guard.check_stack_guests(self.guests())
        result = self.project.run(*args, check=False, timeout=self.target.task_timeout_s * 4)
        self.outputs_seen += [result.stdout, result.stderr]
        if check and result.returncode != 0:
            raise PulumiCommandError(list(args), result)
        return result

    def has_outputs(self) -> bool:
        """Does the stack hold any outputs yet?"""
        result = self.project.run("stack", "output", "--json", check=False)
        return result.returncode == 0 and bool(json.loads(result.stdout or "{}"))

    def outputs(self) -> dict[str, Any]:
        """The stack's outputs."""
        return self.project.outputs()

    def guests(self) -> dict[str, Any]:
        """The ``guests`` output: ``{name: {vmid, mac, ipv4, hostKeys, ...}}``."""
        return dict(self.outputs().get("guests") or {})

    def resource_outputs(self, name: str) -> dict[str, Any]:
        """One resource's outputs from the stack's state (``refresh`` updates these; the
        stack outputs follow only at the next ``up``)."""
        state = json.loads(self.project.run("stack", "export").stdout)
        resources = state["deployment"]["resources"]
        return dict(next(r for r in resources if r["urn"].endswith(f"::{name}"))["outputs"])

    def set_guests(self, guests: list[dict[str, Any]]) -> None:
        """Replace ``felhom:guests`` (JSON text: the program decodes structured values)."""
        self.project.run("config", "set", "felhom:guests", "--", json.dumps(guests))
        self.guest_config = [dict(g) for g in guests]
