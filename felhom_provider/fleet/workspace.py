"""The Automation API side of the runner: environment, backend, one operation on one stack.

Every stack runs in its own ``LocalWorkspace`` over the project directory with the stack
given explicitly, and its own ``PULUMI_HOME`` under ``.felhom/fleet-home/<stack>``, because
selecting a stack writes the workspace's settings file and concurrent writers of one file
race. The state backend is ``FELHOM_BACKEND_URL`` (for example
``postgres://pulumi@db:5432/pulumistate?sslmode=require``), else ``PULUMI_BACKEND_URL``, else
the demo's file backend in ``.felhom/backend`` (docs/state-backend.md).

Stack locks are Pulumi's own: ``up``, ``refresh`` and ``destroy`` lock the stack in the
backend (``pkg/backend/diy/lock.go``: write a lock object, then check no other lock exists,
else remove ours and fail with "the stack is currently locked by ..."), which holds across
processes and machines sharing one backend. A runner that meets a locked stack waits for it
(retrying until ``lock_wait_s``) or skips it, and says which stack and which holder.
"""

from __future__ import annotations

import functools
import os
import random
import re
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pulumi import automation as auto

from felhom_provider.errors import ConfigError, FelhomError
from felhom_provider.fleet.lean_stack import LeanStack
from felhom_provider.fleet.stacks import StackInfo
from felhom_provider.reconcile import node_slots

#: What a secret output becomes in ``outputs`` (the report, ``felhom fleet outputs``).
SECRET = "[secret]"
OPERATIONS = ("preview", "up", "refresh", "destroy", "outputs")
#: Pulumi's DIY backend error when another process holds the stack (pkg/backend/diy/lock.go).
LOCKED_TEXT = "the stack is currently locked by"
PASSPHRASE_VARS = ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE")
_HOLDER_RE = re.compile(r"created by (\S+) \(pid (\d+)\)")

# Offline operation: no update check, no plugin downloads, no registry lookups.
OFFLINE_ENV = {
    "PULUMI_SKIP_UPDATE_CHECK": "true",
    "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
    "PULUMI_DISABLE_REGISTRY_RESOLVE": "true",
    "PULUMI_CREDENTIAL_STORE": "plaintext",
    "GRPC_ENABLE_FORK_SUPPORT": "false",
}


class StackLockedError(FelhomError):
    """Another process holds the stack's lock in the backend."""

    def __init__(self, stack: str, holder: str) -> None:
        super().__init__(f"{stack}: locked by {holder}", stack=stack)
        self.stack = stack
        self.holder = holder


def lock_holder(text: str) -> str:
    """``user@host (pid N)`` from Pulumi's lock error, or the first line of it."""
    match = _HOLDER_RE.search(text)
    if match:
        return f"{match.group(1)} (pid {match.group(2)})"
    line = next((ln for ln in text.splitlines() if LOCKED_TEXT in ln), text)
    return line.strip()[:200]


def pulumi_bin_dir(project_dir: Path, environ: Mapping[str, str]) -> Path | None:
    """The directory of the ``pulumi`` to use: ``FELHOM_PULUMI_BIN``, ``make setup``'s, or PATH."""
    configured = environ.get("FELHOM_PULUMI_BIN")
    recorded = project_dir / ".venv" / "pulumi-bin"
    if not configured and recorded.is_file():
        configured = recorded.read_text().strip()
    if configured:
        return Path(configured)
    found = shutil.which("pulumi", path=environ.get("PATH"))
    return Path(found).parent if found else None


@functools.lru_cache(maxsize=4)
def _pulumi_command(root: str) -> auto.PulumiCommand:
    # Building one runs `pulumi version`: once per runner, not once per stack.
    return auto.PulumiCommand(root=root)


@dataclass(frozen=True)
class FleetEnv:
    """Where the runner's Pulumi commands run and against which backend."""

    project_dir: Path
    backend_url: str
    bin_dir: Path | None
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_environ(cls, project_dir: Path, environ: Mapping[str, str]) -> FleetEnv:
        """The environment for ``project_dir`` from ``environ`` and the demo's defaults."""
        state = project_dir / ".felhom"
        backend = (
            environ.get("FELHOM_BACKEND_URL")
            or environ.get("PULUMI_BACKEND_URL")
            or f"file://{state / 'backend'}"
        )
        if backend.startswith("file://"):
            Path(backend.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
        env = {**OFFLINE_ENV, "PULUMI_BACKEND_URL": backend}
        passphrase = {k: environ[k] for k in PASSPHRASE_VARS if k in environ}
        if not passphrase and (state / "passphrase").is_file():
            passphrase = {"PULUMI_CONFIG_PASSPHRASE_FILE": str(state / "passphrase")}
        env.update(passphrase)
        bin_dir = pulumi_bin_dir(project_dir, environ)
        venv_bin = project_dir / ".venv" / "bin"
        path = [str(p) for p in (bin_dir, venv_bin) if p is not None]
        env["PATH"] = os.pathsep.join([*path, environ.get("PATH", "")])
        return cls(project_dir=project_dir, backend_url=backend, bin_dir=bin_dir, env=env)

    def with_node_restores(self, limit: int) -> FleetEnv:
        """This environment with at most ``limit`` restores per PVE node across all stacks.

        Every stack's provider then takes one of the node's ``limit`` slots for each restore,
        shared by all processes on this machine (``reconcile.node_slots``); the slot files
        live in the project's ``.felhom/node-slots``.
        """
        if limit < 1:
            raise ValueError("--node-restores must be >= 1")
        env = {
            **self.env,
            node_slots.ENV_DIR: str(self.project_dir / ".felhom" / "node-slots"),
            node_slots.ENV_LIMIT: str(limit),
        }
        return replace(self, env=env)

    @property
    def backend_label(self) -> str:
        """The backend URL with any password masked."""
        return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1****@", self.backend_url)

    def command(self) -> auto.PulumiCommand:
        """The Pulumi CLI, from the toolchain directory (its plugins sit next to it)."""
        if self.bin_dir is None:
            raise ConfigError("pulumi", "no Pulumi CLI found: run `make setup` first")
        return _pulumi_command(str(self.bin_dir.parent))

    def workspace(self, stack: str) -> auto.LocalWorkspace:
        """``stack``'s own workspace (own PULUMI_HOME, see module docstring)."""
        home = self.project_dir / ".felhom" / "fleet-home" / stack
        home.mkdir(parents=True, exist_ok=True)
        return auto.LocalWorkspace(
            work_dir=str(self.project_dir),
            pulumi_home=str(home),
            pulumi_command=self.command(),
            env_vars=dict(self.env),
        )


def prepare_backend(fleet: FleetEnv) -> None:
    """Open the backend once before stacks run in parallel.

    On an empty PostgreSQL database the first command creates the ``pulumi_state`` table
    (``pkg/backend/diy/postgres/bucket.go``: check, then ``CREATE TABLE IF NOT EXISTS``);
    several first commands at once race in PostgreSQL's catalog and all but one fail with a
    duplicate-key error. One command first makes the table exist for the rest. It is
    ``whoami``, not ``stack ls``: on this backend ``pulumi stack ls`` hangs once there are
    more stacks than the CLI's connection pool (``2 x GOMAXPROCS``, see docs/state-backend.md).
    """
    if fleet.backend_url.startswith(("postgres://", "postgresql://")):
        fleet.workspace("_backend").who_am_i()


@dataclass
class Outcome:
    """What one operation on one stack produced."""

    changes: dict[str, int] = field(default_factory=dict)
    outputs: dict[str, Any] | None = None


OnLine = Callable[[str], None]


def _op_counts(changes: Mapping[Any, int] | None) -> dict[str, int]:
    return {str(getattr(op, "value", op)): int(n) for op, n in (changes or {}).items()}


def open_stack(fleet: FleetEnv, stack: StackInfo, *, create: bool) -> auto.Stack:
    """Select ``stack`` in the backend (creating it for preview/up when it is new).

    The handle is a ``LeanStack``: its operations skip the SDK's follow-up output and history
    reads, which the runner does not use (``lean_stack``).
    """
    workspace = fleet.workspace(stack.name)
    return LeanStack.open(stack.name, workspace, create=create)


def run_operation(
    fleet: FleetEnv,
    stack: StackInfo,
    operation: str,
    *,
    parallel: int | None,
    on_line: OnLine,
    on_event: Callable[[auto.EngineEvent], None] | None = None,
) -> Outcome:
    """Run ``operation`` on ``stack`` once; raises ``StackLockedError`` when another holds it."""
    if operation not in OPERATIONS:
        raise ValueError(f"unknown operation {operation!r}")
    try:
        handle = open_stack(fleet, stack, create=operation in ("preview", "up"))
        common: dict[str, Any] = {"on_output": on_line, "on_event": on_event, "color": "never"}
        if operation == "outputs":
            # Secret outputs stay out of reports and inventories.
            outputs = {k: SECRET if v.secret else v.value for k, v in handle.outputs().items()}
            return Outcome(outputs=outputs)
        if operation == "preview":
            preview = handle.preview(parallel=parallel, diff=False, **common)
            return Outcome(changes=_op_counts(preview.change_summary))
        result: auto.UpResult | auto.RefreshResult | auto.DestroyResult
        if operation == "up":
            result = handle.up(parallel=parallel, **common)
        elif operation == "refresh":
            result = handle.refresh(parallel=parallel, **common)
        else:
            result = handle.destroy(parallel=parallel, **common)
        return Outcome(changes=_op_counts(result.summary.resource_changes))
    except auto.errors.CommandError as exc:
        text = str(exc)
        if LOCKED_TEXT in text:
            raise StackLockedError(stack.name, lock_holder(text)) from None
        raise


def with_lock_policy(
    attempt: Callable[[], Outcome],
    *,
    on_locked: str,
    lock_wait_s: float,
    on_wait: Callable[[StackLockedError], None],
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Outcome:
    """Run ``attempt``; on ``StackLockedError`` re-raise (``skip``) or retry until ``lock_wait_s``.

    Retries are jittered: two runners that locked at the same instant both back off
    (lock.go removes both locks) and must not retry in step.
    """
    deadline = clock() + lock_wait_s
    while True:
        try:
            return attempt()
        except StackLockedError as locked:
            if on_locked == "skip" or clock() >= deadline:
                raise
            on_wait(locked)
            sleep(random.uniform(1.0, 3.0))
