"""The real Pulumi engine works offline: `up` and `destroy` run a Python dynamic provider.

This drives the CLI that the toolchain installer provides, with a file backend in a temp
dir, a passphrase, the update check and plugin acquisition off (see ``pulumi_cli.py``).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.e2e.pulumi_cli import REPO, PulumiProject

SMOKE = REPO / "tests" / "fixtures" / "engine_smoke"


def test_version_is_pinned(pulumi_cli: Path) -> None:
    """The CLI and the language host report the same version (the Automation API needs it)."""
    cli = subprocess.run(
        [str(pulumi_cli / "pulumi"), "version"],
        env={"PULUMI_SKIP_UPDATE_CHECK": "true", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    host = subprocess.run(
        [str(pulumi_cli / "pulumi-language-python"), "-version"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert cli.startswith("v3.")
    assert cli == host
    for script in ("pulumi-language-python-exec", "pulumi-resource-pulumi-python"):
        assert (pulumi_cli / script).stat().st_mode & 0o100, f"{script} is not executable"


def test_up_and_destroy_run_the_dynamic_provider(
    pulumi_project: Callable[[Path], PulumiProject], tmp_path: Path
) -> None:
    project = pulumi_project(SMOKE)
    sidefx = tmp_path / "side-effects"
    sidefx.mkdir()
    project.stack_init("smoke")
    project.set_config({"directory": str(sidefx), "content": "hello from create"})

    preview = project.run("preview")
    # The stack itself and the one dynamic resource.
    assert "+ 2 to create" in preview.stdout
    assert "pulumi-python:dynamic:Resource" in preview.stdout
    assert not list(sidefx.iterdir()), "preview must not run create"

    project.run("up", "--yes")
    marker = sidefx / "smoke.marker"
    assert marker.read_text() == "hello from create"
    outputs = project.outputs()
    assert outputs == {"path": str(marker), "size": len("hello from create"), "stack": "smoke"}

    second = project.run("up", "--yes")
    assert "2 unchanged" in second.stdout

    project.run("destroy", "--yes")
    assert not marker.exists(), "destroy must run the provider's delete"
    project.run("stack", "rm", "--yes", "smoke")
