"""A new golden archive on an existing guest: detect it, say it at preview, pace the roll.

A change of a ``Change.ROLL`` key (the ``archive``) is an *update* of the guest, never a
replacement: ``update`` rolls the new archive onto it first (``reconcile.roll``) and then
applies the other in-place changes. Preview cannot show a per-property explanation: the
Python SDK's dynamic provider drops everything of a ``DiffResult`` but ``changes``,
``replaces`` and ``deleteBeforeReplace`` (``pulumi/dynamic/__main__.py``, ``Diff``), so
``diff`` sends the roll's description (old and new archive, the root filesystem rebuilt, the
data mounts kept, whether the host keys change) as a diagnostic against the guest's URN,
a warning when the host keys will change.

Pacing comes from ``felhom:rollout`` (``spec.stack``), read in ``configure``: the gate is
process-wide per stack (``reconcile.rollout``), and the provider process lives for one
``pulumi up``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from felhom_provider.errors import ConfigError
from felhom_provider.provider_process.engine_log import engine_log, resource_urn
from felhom_provider.reconcile.model import MountSpec
from felhom_provider.reconcile.roll_plan import preview_roll
from felhom_provider.reconcile.rollout import RolloutGate, RolloutSettings, gate
from felhom_provider.resources._diff import DiffTable, canonical, is_unknown
from felhom_provider.resources._runtime import TYPE_TOKENS
from felhom_provider.settings import NAMESPACE, decode
from felhom_provider.spec.stack import STACK


@dataclass(frozen=True)
class RollConfig:
    """What a roll needs from the stack config: pacing, and whether a node shell exists
    (without one the host keys cannot be carried and Docker is not checked)."""

    rollout: RolloutSettings = field(default_factory=RolloutSettings)
    node_shell: bool = True

    @classmethod
    def from_config(cls, get: Callable[[str], Any]) -> RollConfig:
        """From the provider's config (``felhom:rollout``, ``felhom:nodeShell``)."""
        key = f"{NAMESPACE}:rollout"
        raw = decode(key, get(key))
        try:
            value = STACK.by_key["rollout"].validate(raw) if raw is not None else {}
        except ValueError as exc:
            raise ConfigError(key + str(getattr(exc, "path", "")), str(exc)) from None
        return cls(
            rollout=RolloutSettings.from_config(value),
            node_shell=get(f"{NAMESPACE}:nodeShell") is not None,
        )

    def gate(self, owner: str) -> RolloutGate:
        """The process-wide gate of the stack that ``owner`` (``…/<stack>/<name>``) is in."""
        return gate(owner.rsplit("/", 1)[0], self.rollout)


@dataclass(frozen=True)
class RollChange:
    """A guest's archive change: ``new`` is None while it is unknown (built in this run)."""

    old: str
    new: str | None


def roll_change(
    table: DiffTable, olds: Mapping[str, Any], news: Mapping[str, Any]
) -> RollChange | None:
    """The archive change between the old outputs and the new inputs, or None."""
    for key in sorted(table.roll):
        new = news.get(key)
        if is_unknown(new):
            return RollChange(str(olds.get(key) or ""), None)
        if new is not None and canonical(olds.get(key)) != canonical(new):
            return RollChange(str(olds.get(key) or ""), str(new))
    return None


def preview_text(change: RollChange, olds: Mapping[str, Any], *, node_shell: bool) -> str:
    """The sentence preview shows for a guest that rolls (``roll_plan.preview_roll``)."""
    mounts = [MountSpec.from_dict(m) for m in olds.get("mounts") or () if isinstance(m, Mapping)]
    return preview_roll(change.old, change.new, mounts, node_shell=node_shell)


def announce(owner: str, message: str, mask: Callable[[str], str], *, warning: bool) -> None:
    """Show ``message`` against the guest in preview/up; stderr when no engine listens."""
    line = mask(message)
    if not engine_log(resource_urn(owner, TYPE_TOKENS["guest"]), line, warning=warning):
        sys.stderr.write(f"felhom guest {owner.rsplit('/', 1)[-1]}: {line}\n")
        sys.stderr.flush()
