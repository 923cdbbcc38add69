"""``LeanStack`` against the real CLI: an ``up`` runs one CLI command and takes its change
counts from the engine's summary event; outside its operations the stack reads the backend
as any ``Stack`` does."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from pulumi import automation as auto

from felhom_provider.fleet.lean_stack import LeanStack
from felhom_provider.fleet.workspace import FleetEnv
from tests.fleet.lab import Lab, init_stacks, make_project, runner_env, write_stack

pytestmark = pytest.mark.e2e


class RecordingCommand(auto.PulumiCommand):
    """The Pulumi CLI, noting the first two words of every command it runs."""

    def __init__(self, root: str) -> None:
        super().__init__(root=root)
        self.commands: list[str] = []

    def run(self, args: list[str], cwd: str, additional_env: Mapping[str, str], *rest: Any) -> Any:
        self.commands.append(" ".join(a for a in args[:2] if not a.startswith("-")))
        return super().run(args, cwd, additional_env, *rest)


def test_up_runs_one_command_and_counts_changes_from_the_summary_event(
    lab: Lab, tmp_path: Path
) -> None:
    (tmp_path / "backend").mkdir()
    backend = f"file://{tmp_path / 'backend'}"
    project = make_project(tmp_path / "project")
    write_stack(project, "lean1", lab.stack_config("lean1", 1))
    init_stacks(project, ["lean1"], backend, lab.secret)
    fleet = FleetEnv.from_environ(project, runner_env(backend))
    assert fleet.bin_dir is not None
    command = RecordingCommand(str(fleet.bin_dir.parent))
    workspace = auto.LocalWorkspace(
        work_dir=str(project),
        pulumi_home=str(tmp_path / "home"),
        pulumi_command=command,
        env_vars=dict(fleet.env),
    )
    stack = LeanStack.open("lean1", workspace, create=False)
    events: list[auto.EngineEvent] = []

    command.commands.clear()
    first = stack.up(on_event=events.append, color="never")
    # The golden image (a given archive), the stack identity and the guest.
    assert first.summary.resource_changes == {"create": 3}
    assert first.summary.kind == "update" and first.summary.result == "succeeded"
    assert command.commands == ["up"]
    assert first.outputs == {}
    # The caller's own event handler still sees every event, the summary included.
    assert any(e.summary_event is not None for e in events)

    second = stack.up(color="never")
    assert second.summary.resource_changes == {"same": 3}
    refreshed = stack.refresh(color="never")
    assert refreshed.summary.kind == "refresh"
    assert command.commands == ["up", "up", "refresh"]

    # Outside an operation: the real outputs and history, read from the backend.
    outputs = stack.outputs()
    assert set(outputs["guests"].value) == {"lean1-g0"}
    assert outputs["stackId"].value
    info = stack.info()
    assert info is not None and info.kind == "refresh"
    assert [h.kind for h in stack.history()] == ["refresh", "update", "update"]
