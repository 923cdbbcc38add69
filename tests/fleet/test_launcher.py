"""The toolchain's dynamic-provider launcher: installed into a cache, and its module choice."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.unit.test_install_toolchain import fake_bin, run

LAUNCHER = "pulumi-resource-pulumi-python"


def fake_python(directory: Path, has_entry_point: bool) -> Path:
    """An interpreter stand-in: answers the launcher's import probe, records its argv."""
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "python"
    probe = "exit 0" if has_entry_point else "exit 1"
    script.write_text(
        f'#!/bin/sh\nif [ "$1" = -c ]; then {probe}; fi\necho "$@" > "{directory}/argv"\n'
    )
    script.chmod(0o755)
    return script


def launch(launcher: Path, env: dict[str, str], cwd: Path) -> None:
    subprocess.run(
        [str(launcher), "127.0.0.1:1234"],
        env={"PATH": "/usr/bin:/bin", **env},
        cwd=cwd,
        check=True,
        timeout=30,
    )


def test_a_complete_cache_gets_our_launcher(tmp_path: Path) -> None:
    cached = fake_bin(tmp_path / "cache" / "pulumi-v3.274.1" / "bin", "3.274.1")
    result = run(tmp_path, [], FELHOM_FORCE_BUILD="1")
    assert result.returncode == 0, result.stderr
    assert "felhom_provider.provider_main" in (cached / LAUNCHER).read_text()
    assert os.access(cached / LAUNCHER, os.X_OK)
    # A second run finds it in place and changes nothing.
    before = (cached / LAUNCHER).stat().st_mtime_ns
    assert run(tmp_path, [], FELHOM_FORCE_BUILD="1").returncode == 0
    assert (cached / LAUNCHER).stat().st_mtime_ns == before


def installed_launcher(tmp_path: Path) -> Path:
    cached = fake_bin(tmp_path / "cache" / "pulumi-v3.274.1" / "bin", "3.274.1")
    assert run(tmp_path, [], FELHOM_FORCE_BUILD="1").returncode == 0
    return cached / LAUNCHER


def test_launcher_runs_our_entry_point_from_the_project_virtualenv(tmp_path: Path) -> None:
    launcher = installed_launcher(tmp_path)
    project = tmp_path / "project"
    fake_python(project / ".venv" / "bin", has_entry_point=True)
    launch(launcher, {"PULUMI_RUNTIME_VIRTUALENV": ".venv"}, cwd=project)
    argv = (project / ".venv" / "bin" / "argv").read_text().split()
    assert argv == ["-u", "-m", "felhom_provider.provider_main", "127.0.0.1:1234"]


def test_launcher_falls_back_to_the_sdk_server(tmp_path: Path) -> None:
    launcher = installed_launcher(tmp_path)
    python = fake_python(tmp_path / "py", has_entry_point=False)
    launch(launcher, {"PULUMI_PYTHON_CMD": str(python)}, cwd=tmp_path)
    argv = (tmp_path / "py" / "argv").read_text().split()
    assert argv == ["-u", "-m", "pulumi.dynamic", "127.0.0.1:1234"]
