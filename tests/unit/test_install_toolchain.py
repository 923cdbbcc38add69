"""The toolchain installer's decisions, with fake binaries instead of a real build.

The real build is exercised by ``make setup`` and the e2e tests; these cases cover the
paths an operator meets: an installed CLI on PATH, a complete cache, and a missing Go.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "install-toolchain.sh"
PLUGINS = ("pulumi-language-python", "pulumi-language-python-exec", "pulumi-resource-pulumi-python")


def langhost_sources_stamp() -> str:
    """The stamp the installer writes: a hash of the language host's sources."""
    langhost = REPO / "toolchain" / "langhost"
    files = [langhost / "go.mod", langhost / "go.sum", *sorted(langhost.glob("*.go"))]
    return hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()[:16]


def fake_bin(directory: Path, version: str, stamp: str | None = None) -> Path:
    """Four executables that answer like a Pulumi CLI and language host of ``version``."""
    directory.mkdir(parents=True)
    (directory / ".langhost-sources").write_text(f"{stamp or langhost_sources_stamp()}\n")
    (directory / "pulumi").write_text(f"#!/bin/sh\necho v{version}\n")
    (directory / "pulumi-language-python").write_text(f"#!/bin/sh\necho v{version}\n")
    for name in PLUGINS[1:]:
        (directory / name).write_text("#!/bin/sh\nexit 0\n")
    for child in directory.iterdir():
        child.chmod(0o755)
    return directory


def run(tmp_path: Path, path_dirs: list[Path], **extra: str) -> subprocess.CompletedProcess[str]:
    # Only the fake dirs and the basic system tools: no go, no real pulumi.
    env = {
        "PATH": os.pathsep.join([*map(str, path_dirs), "/usr/bin", "/bin"]),
        "HOME": str(tmp_path / "home"),
        "FELHOM_TOOLCHAIN_CACHE": str(tmp_path / "cache"),
        **extra,
    }
    return subprocess.run(
        ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def only_system_path_without_go() -> None:
    for d in ("/usr/bin", "/bin"):
        if (Path(d) / "go").exists():
            pytest.fail(f"this test assumes no `go` in {d}; the machine has one there")


def test_compatible_pulumi_on_path_is_used(tmp_path: Path) -> None:
    ambient = fake_bin(tmp_path / "ambient", "3.280.0")
    result = run(tmp_path, [ambient])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(ambient)
    assert "using the Pulumi CLI on PATH" in result.stderr


@pytest.mark.parametrize("version", ["3.100.0", "4.0.0"])
def test_incompatible_pulumi_on_path_is_ignored(tmp_path: Path, version: str) -> None:
    only_system_path_without_go()
    ambient = fake_bin(tmp_path / "ambient", version)
    result = run(tmp_path, [ambient])
    assert f"ignoring pulumi v{version} on PATH" in result.stderr
    # With no Go either, the operator is told exactly what to install.
    assert result.returncode == 1
    assert "Go is not installed" in result.stderr


def test_complete_cache_is_reused_without_go(tmp_path: Path) -> None:
    cached = fake_bin(tmp_path / "cache" / "pulumi-v3.274.1" / "bin", "3.274.1")
    result = run(tmp_path, [], FELHOM_FORCE_BUILD="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(cached)


def test_cache_built_from_other_language_host_sources_is_rebuilt(tmp_path: Path) -> None:
    only_system_path_without_go()
    fake_bin(tmp_path / "cache" / "pulumi-v3.274.1" / "bin", "3.274.1", stamp="0" * 16)
    result = run(tmp_path, [], FELHOM_FORCE_BUILD="1")
    # Not reused: it goes on to build, which needs Go.
    assert result.returncode == 1
    assert "Go is not installed" in result.stderr


def test_incomplete_cache_is_not_trusted(tmp_path: Path) -> None:
    only_system_path_without_go()
    cached = fake_bin(tmp_path / "cache" / "pulumi-v3.274.1" / "bin", "3.274.1")
    (cached / "pulumi-resource-pulumi-python").unlink()
    result = run(tmp_path, [], FELHOM_FORCE_BUILD="1")
    assert result.returncode == 1
    assert "Go is not installed" in result.stderr
