"""Fixtures for end-to-end tests that drive the real Pulumi CLI.

``pulumi_cli`` is the installed CLI's bin directory; ``pulumi_project`` copies a project
into a temp dir and returns a ``PulumiProject`` runner with an isolated file backend.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.pulumi_cli import PulumiProject, copy_project, pulumi_bin_dir


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/e2e runs the real CLI: mark it so `-m 'not e2e'` skips it."""
    for item in items:
        if "tests/e2e/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def pulumi_cli() -> Path:
    """The bin directory of the Pulumi CLI provided by ``make setup``."""
    return pulumi_bin_dir()


@pytest.fixture
def pulumi_project(pulumi_cli: Path, tmp_path: Path) -> Callable[[Path], PulumiProject]:
    """Factory: copy the project at ``source`` and return a runner for it."""

    def make(source: Path) -> PulumiProject:
        workdir = copy_project(source, tmp_path / "project")
        state_dir = tmp_path / "pulumi-state"
        (state_dir / "backend").mkdir(parents=True)
        return PulumiProject(workdir=workdir, state_dir=state_dir, bin_dir=pulumi_cli)

    return make
