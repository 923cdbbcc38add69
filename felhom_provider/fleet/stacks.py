"""Which stacks exist and which of them an operator selected.

Stacks are the ``Pulumi.<name>.yaml`` files in the project's stack config directory
(``stackConfigDir`` in ``Pulumi.yaml``, ``stacks/`` here). Everything the runner needs before
it talks to Pulumi comes from those files: the PVE node (``felhom:pve.node``) for the per-node
bound, and the fleet tags (``felhom:fleet: {tags: [...]}``) for selection. Reading the files
directly keeps ``felhom fleet list`` and the scheduling decisions free of any Pulumi or PVE call.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml  # type: ignore[import-untyped]

from felhom_provider.errors import ConfigError
from felhom_provider.provider_main import worker_count

KEY_FLEET = "felhom:fleet"
KEY_PVE = "felhom:pve"
KEY_GUEST_SSH_PORT = "felhom:guestSshPort"
#: The node of a stack whose file names none (the simulator's default node name is not assumed).
UNKNOWN_NODE = "(unset)"


@dataclass(frozen=True)
class StackInfo:
    """One customer stack as its config file describes it."""

    name: str
    path: Path
    node: str = UNKNOWN_NODE
    tags: tuple[str, ...] = field(default_factory=tuple)
    #: The endpoint's host is under ``.invalid`` (RFC 2606: never resolves), as in the
    #: commented example stack: only selected when named explicitly.
    example: bool = False
    #: Resource operations worth running at once in this stack: the provider's thread pool
    #: width for its ``felhom:limits.restoresPerNode`` (``provider_main.worker_count``).
    width: int = 8
    #: ``felhom:guestSshPort``: where guests' sshd listens, for outputs without ``sshPort``.
    guest_ssh_port: int = 22


def _load_yaml(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), f"is not valid YAML: {exc}") from None
    if not isinstance(loaded, dict):
        raise ConfigError(str(path), "must be a YAML mapping")
    return loaded


def stack_config_dir(project_dir: Path) -> Path:
    """The directory holding ``Pulumi.<stack>.yaml`` (``stackConfigDir``, else the project)."""
    project = _load_yaml(project_dir / "Pulumi.yaml")
    configured = project.get("stackConfigDir")
    return project_dir / configured if isinstance(configured, str) else project_dir


def _tags(config: dict[str, Any], path: Path) -> tuple[str, ...]:
    fleet = config.get(KEY_FLEET)
    if fleet is None:
        return ()
    tags = fleet.get("tags", []) if isinstance(fleet, dict) else None
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ConfigError(f"{path.name}: {KEY_FLEET}.tags", "must be a list of strings")
    return tuple(tags)


def _port(value: Any) -> int:
    """A port from config (an int or its text); 22 when absent or not a port."""
    text = str(value).strip() if value is not None else ""
    return int(text) if text.isdigit() and 0 < int(text) < 65536 else 22


def read_stack(path: Path) -> StackInfo:
    """A stack's name, node and fleet tags from its config file."""
    name = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
    config = _load_yaml(path).get("config") or {}
    if not isinstance(config, dict):
        raise ConfigError(f"{path.name}: config", "must be a mapping")
    pve = config.get(KEY_PVE)
    node = pve.get("node") if isinstance(pve, dict) else None
    endpoint = str(pve.get("endpoint", "")) if isinstance(pve, dict) else ""
    host = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}").hostname or ""
    return StackInfo(
        name=name,
        path=path,
        node=str(node) if node else UNKNOWN_NODE,
        tags=_tags(config, path),
        example=host == "invalid" or host.endswith(".invalid"),
        width=worker_count(config),
        guest_ssh_port=_port(config.get(KEY_GUEST_SSH_PORT)),
    )


def discover(project_dir: Path) -> list[StackInfo]:
    """Every stack of the project, sorted by name."""
    directory = stack_config_dir(project_dir)
    return sorted((read_stack(p) for p in directory.glob("Pulumi.*.yaml")), key=lambda s: s.name)


@dataclass(frozen=True)
class Selection:
    """Names or globs (``acme-*``) and tags; a stack is selected when it matches any pattern
    (or none were given) and carries every tag asked for; ``exclude`` patterns drop stacks.
    Example stacks (``StackInfo.example``) are selected only by their exact name."""

    patterns: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def matches(self, stack: StackInfo) -> bool:
        """True when ``stack`` is selected."""
        if stack.example and stack.name not in self.patterns:
            return False
        if self.patterns and not any(fnmatch.fnmatchcase(stack.name, p) for p in self.patterns):
            return False
        if any(fnmatch.fnmatchcase(stack.name, p) for p in self.exclude):
            return False
        return all(tag in stack.tags for tag in self.tags)


def select(stacks: Iterable[StackInfo], selection: Selection) -> list[StackInfo]:
    """The selected stacks, in discovery order; a pattern that matches nothing is an error."""
    stacks = list(stacks)
    for pattern in selection.patterns:
        if not any(fnmatch.fnmatchcase(s.name, pattern) for s in stacks):
            raise ConfigError("stack selection", f"no stack matches {pattern!r}")
    return [s for s in stacks if selection.matches(s)]


def names(stacks: Sequence[StackInfo]) -> list[str]:
    """The stacks' names."""
    return [s.name for s in stacks]
