"""The shared diff helper: explicit replace/update tables, never the pickled provider.

Pulumi hands ``diff`` the old *outputs* (not the old inputs) and the new, checked inputs.
Numbers have crossed the wire as floats and preview may carry ``Unknown()`` values, so the
comparison here is on normalised values and treats an unknown as "may change".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pulumi.dynamic import DiffResult
from pulumi.output import Unknown

from felhom_provider.spec.field import Change, Table

PROVIDER_KEY = "__provider"


@dataclass(frozen=True)
class DiffTable:
    """Which input keys replace the resource and which are updated in place.

    Every compared input key is in exactly one of the two sets; ``observed`` keys (PVE
    fills them when unset, e.g. the VMID) only differ when the new input is set; output-only
    keys and ``fixed`` ones (set at create, e.g. the ownership marker) are never compared.
    ``roll`` keys are updates that roll a new golden archive onto the guest (a new root
    filesystem, data and identity kept): an unknown new value is an update too, never a
    replacement.
    """

    replace: frozenset[str]
    update: frozenset[str]
    observed: frozenset[str] = frozenset()
    roll: frozenset[str] = frozenset()

    @classmethod
    def from_table(cls, table: Table) -> DiffTable:
        """The diff rules a field table declares."""
        return cls(
            replace=table.of(Change.REPLACE),
            update=(
                table.of(Change.LIVE)
                | table.of(Change.RESTART)
                | table.of(Change.REFUSED)
                | table.of(Change.ROLL)
            ),
            observed=frozenset(f.key for f in table.fields if f.observed),
            roll=table.of(Change.ROLL),
        )

    def __post_init__(self) -> None:
        both = self.replace & self.update
        if both:
            raise ValueError(f"keys both replace and update: {sorted(both)}")
        if PROVIDER_KEY in self.replace | self.update:
            raise ValueError("__provider must never be diffed (its pickle changes with the code)")
        if not self.roll <= self.update:
            raise ValueError(f"roll keys must be updates: {sorted(self.roll - self.update)}")

    @property
    def inputs(self) -> frozenset[str]:
        """All input keys the table knows."""
        return self.replace | self.update


def is_unknown(value: Any) -> bool:
    """True for a value the engine does not know yet (preview), at any depth."""
    if isinstance(value, Unknown):
        return True
    if isinstance(value, Mapping):
        return any(is_unknown(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(is_unknown(v) for v in value)
    return False


def canonical(value: Any) -> Any:
    """A value in comparable form: whole floats become ints, tuples lists, None stays None.

    The wire turns every number into a float (``2`` arrives as ``2.0``); state written
    by ``create`` holds ints. Comparing canonical forms keeps a no-op ``up`` a no-op.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {str(k): canonical(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    return value


def changed_keys(table: DiffTable, olds: Mapping[str, Any], news: Mapping[str, Any]) -> list[str]:
    """The input keys whose new value differs from (or may differ from) the old output."""
    changed = []
    for key in sorted(table.inputs):
        new = news.get(key)
        if new is None and key in table.observed:
            continue
        if is_unknown(new) or canonical(olds.get(key)) != canonical(new):
            changed.append(key)
    return changed


def compute_diff(
    table: DiffTable,
    olds: Mapping[str, Any],
    news: Mapping[str, Any],
    *,
    delete_before_replace: bool,
) -> DiffResult:
    """An explicit ``DiffResult``: ``changes`` is always True or False, never None.

    ``delete_before_replace`` is only reported when a replacement happens, so the engine's
    default (create the new one first) applies otherwise.
    """
    changed = changed_keys(table, olds, news)
    replaces = [key for key in changed if key in table.replace]
    return DiffResult(
        changes=bool(changed),
        replaces=replaces,
        stables=sorted(table.replace - set(replaces)),
        delete_before_replace=delete_before_replace if replaces else None,
    )
