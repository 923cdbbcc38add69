"""``GoldenImage``: the golden archive every customer guest is restored from.

``create`` runs the golden build (``reconcile.GoldenEngine``) and publishes what it
verified. Any recipe change replaces the image the default Pulumi way: the new archive is
built first, then the old one is deleted (guests that still name the old archive are
replaced in the same run, or fail on protection, before it goes). ``delete`` removes the
archive unless ``retain`` is set.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.dynamic import (
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    UpdateResult,
)

from felhom_provider.reconcile.model import GoldenSpec, GoldenState
from felhom_provider.resources._diff import PROVIDER_KEY, DiffTable, compute_diff
from felhom_provider.resources._legacy import GOLDEN_RENAMES, upgrade
from felhom_provider.resources._provider import RuntimeProvider
from felhom_provider.resources._runtime import scrubbed
from felhom_provider.resources._validate import Checker, finish_check
from felhom_provider.spec.golden import COMPUTED, GOLDEN

#: The recipe (anything that changes what ends up in the archive) replaces; bookkeeping
#: (retain, the build VMID and its reserved range) changes in place.
GOLDEN_TABLE = DiffTable.from_table(GOLDEN)

#: Outputs only the build observes; ``read`` finds them in the archive's notes.
BUILD_FACTS = ("dockerDriver", "opensshVersion")
#: The ``goldenImage`` export: the computed outputs plus the recipe's visible bookkeeping.
GOLDEN_EXPORT = (*COMPUTED, "node", "retain")


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part.title() for part in rest)


@dataclass(frozen=True)
class GoldenImageArgs:
    """Inputs of ``GoldenImage``: the checked field-table values (``spec.golden.GOLDEN``)."""

    values: Mapping[str, Any]

    def to_props(self, name: str) -> dict[str, Any]:
        """The resource's input properties, named as in the stack config."""
        props = {k: v for k, v in self.values.items() if k in GOLDEN.by_key and v is not None}
        props["name"] = name
        return props


def check_golden(olds: Mapping[str, Any], news: Mapping[str, Any]) -> CheckResult:
    """Validate and normalise the recipe by walking the field table (no I/O)."""
    del olds
    c = Checker(news)
    inputs = c.walk(GOLDEN)
    return finish_check(c, news, inputs, GOLDEN, spec_from_inputs)


def spec_from_inputs(props: Mapping[str, Any]) -> GoldenSpec:
    """The engine's spec from checked inputs (the table restores wire floats to ints)."""
    return GoldenSpec.from_inputs(props)


def outputs(inputs: Mapping[str, Any], state: GoldenState) -> dict[str, Any]:
    """Every input plus the engine's report (JSON-safe; ints stay ints)."""
    outs = {k: v for k, v in inputs.items() if k in GOLDEN.by_key and v is not None}
    outs.update({_camel(k): v for k, v in state.to_dict().items()})
    return outs


class GoldenImageProvider(RuntimeProvider):
    """The dynamic provider behind ``GoldenImage``; nothing of it is pickled but its class."""

    kind = "golden"

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        """Validate the recipe without I/O."""
        return check_golden(upgrade(olds, GOLDEN_RENAMES), news)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        """Recipe changes replace, new archive first (archives never collide)."""
        olds = upgrade(olds, GOLDEN_RENAMES)
        return compute_diff(GOLDEN_TABLE, olds, news, delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> CreateResult:
        """Build the golden archive; the id is its volume id."""
        spec = spec_from_inputs(props)
        runtime, progress = self._runtime(spec.owner)
        with scrubbed(runtime):
            state = runtime.golden_engine(spec.node, progress).build(spec)
        progress(f"{spec.name}: archive {state.archive} ({state.size_bytes} bytes) verified")
        return CreateResult(state.archive, outputs(props, state))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        """Refresh: the archive's facts now; ``ReadResult(None, {})`` when it is gone."""
        props = upgrade(props, GOLDEN_RENAMES)
        runtime, progress = self._runtime(props.get("owner"))
        with scrubbed(runtime):
            state = runtime.golden_engine(str(props["node"]), progress).read(id_)
        if state is None:
            progress(f"{props.get('name', id_)}: archive {id_} is gone; dropping it from state")
            return ReadResult(None, {})
        outs = outputs(props, state)
        for key in BUILD_FACTS:
            # Only the build observes these; the archive's notes record them, but an archive
            # made before that (or whose notes were edited) has none: keep what state knows.
            if not outs.get(key) and props.get(key):
                outs[key] = props[key]
        return ReadResult(id_, outs, {k: v for k, v in outs.items() if k in GOLDEN.by_key})

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        """Only bookkeeping inputs change in place: keep the archive facts, take the inputs."""
        olds = upgrade(olds, GOLDEN_RENAMES)
        outs = {k: v for k, v in olds.items() if k not in GOLDEN.by_key}
        outs.update({k: v for k, v in news.items() if k in GOLDEN.by_key})
        outs.pop(PROVIDER_KEY, None)
        return UpdateResult(outs)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        """Delete the archive, unless ``retain`` asked to keep it."""
        runtime, progress = self._runtime(props.get("owner"))
        if props.get("retain"):
            progress(f"{props.get('name', id_)}: retain is set: keeping {id_}")
            return
        with scrubbed(runtime):
            runtime.golden_engine(str(props["node"]), progress).delete(id_)


class GoldenImage(Resource, module="felhom", name="GoldenImage"):
    """The golden archive (Debian 13 + Docker, identity-cleaned, keyctl/nesting).

    Outputs: every input (named as in the stack config) plus ``spec.golden.COMPUTED``."""

    archive: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        args: GoldenImageArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = args.to_props(resource_name)
        for key in (*GOLDEN.keys(), *COMPUTED):
            props.setdefault(key, None)
        super().__init__(GoldenImageProvider(), resource_name, props, opts)
