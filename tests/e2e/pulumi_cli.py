"""Run the real Pulumi CLI offline against a file backend, for end-to-end tests.

The CLI comes from the toolchain installer (``make setup`` writes its bin directory to
``.venv/pulumi-bin``; ``make test`` passes it as ``FELHOM_PULUMI_BIN``). Every run gets its
own ``PULUMI_HOME`` and backend directory, so tests never share state or touch ``~/.pulumi``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
VENV = REPO / ".venv"

# Offline operation: no update check, no plugin downloads, no registry lookups.
OFFLINE_ENV = {
    "PULUMI_SKIP_UPDATE_CHECK": "true",
    "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
    "PULUMI_DISABLE_REGISTRY_RESOLVE": "true",
    "PULUMI_CREDENTIAL_STORE": "plaintext",
    "PULUMI_CONFIG_PASSPHRASE": "e2e-passphrase",
    # Provider handler threads never fork without exec; silence grpc's fork warnings.
    "GRPC_ENABLE_FORK_SUPPORT": "false",
}


def pulumi_bin_dir() -> Path:
    """The directory holding ``pulumi`` and its Python plugins; fails loudly if absent."""
    configured = os.environ.get("FELHOM_PULUMI_BIN")
    if not configured:
        recorded = VENV / "pulumi-bin"
        if recorded.is_file():
            configured = recorded.read_text().strip()
    if not configured or not (Path(configured) / "pulumi").is_file():
        raise RuntimeError(
            "the Pulumi CLI is not installed: run `make setup` (or `make test`, which runs it) "
            "so that scripts/install-toolchain.sh provides it"
        )
    return Path(configured)


class PulumiCommandError(AssertionError):
    """A pulumi command exited non-zero; carries its combined output."""

    def __init__(self, args: list[str], result: subprocess.CompletedProcess[str]) -> None:
        super().__init__(
            f"pulumi {' '.join(args)} exited {result.returncode}\n"
            f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
        )
        self.result = result


@dataclass
class PulumiProject:
    """A copy of a Pulumi project in a temp dir, with its own backend and PULUMI_HOME."""

    workdir: Path
    state_dir: Path
    bin_dir: Path
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        """The environment every pulumi command of this project runs with."""
        env = dict(os.environ)
        env.update(OFFLINE_ENV)
        env["PATH"] = f"{self.bin_dir}{os.pathsep}{VENV / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env["PULUMI_HOME"] = str(self.state_dir / "home")
        env["PULUMI_BACKEND_URL"] = f"file://{self.state_dir / 'backend'}"
        env.update(self.extra_env)
        return env

    def run(
        self, *args: str, check: bool = True, timeout: float = 900, input_text: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``pulumi <args>`` non-interactively in the project directory."""
        argv = [str(self.bin_dir / "pulumi"), "--non-interactive", *args]
        result = subprocess.run(
            argv,
            cwd=self.workdir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input_text,
            check=False,
        )
        if check and result.returncode != 0:
            raise PulumiCommandError(list(args), result)
        return result

    def stack_init(self, stack: str) -> None:
        """Create (and select) a stack in the file backend."""
        self.run("stack", "init", stack)

    def outputs(self) -> dict[str, Any]:
        """The selected stack's outputs, secrets shown."""
        out = self.run("stack", "output", "--json", "--show-secrets").stdout
        parsed: dict[str, Any] = json.loads(out)
        return parsed

    def set_config(self, values: Mapping[str, str], *, secret: bool = False) -> None:
        """Set stack config values (``--secret`` when asked)."""
        for key, value in values.items():
            args = ["config", "set", key, "--"]
            if secret:
                args = ["config", "set", "--secret", key, "--"]
            self.run(*args, value)


def processes_in(workdir: Path) -> list[int]:
    """PIDs of processes whose working directory is ``workdir`` (plugins run there)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if (entry / "cwd").resolve() == workdir.resolve():
                found.append(int(entry.name))
        except OSError:
            continue  # gone meanwhile, or not ours to read
    return found


def copy_project(source: Path, dest: Path, *, virtualenv: Path = VENV) -> Path:
    """Copy a project directory and point its ``Pulumi.yaml`` at an absolute virtualenv.

    ``runtime.options.virtualenv`` is resolved relative to the project root, so a copy in
    a temp dir must name the repository's ``.venv`` by absolute path.
    """
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns("__pycache__", ".venv"))
    project_file = dest / "Pulumi.yaml"
    text = project_file.read_text()
    text = text.replace("virtualenv: .venv", f"virtualenv: {virtualenv}")
    project_file.write_text(text)
    return dest
