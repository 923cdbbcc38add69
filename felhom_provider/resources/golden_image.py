"""``GoldenImage``: the golden archive every customer guest is restored from.

``create`` runs the golden build (``reconcile.GoldenEngine``) and publishes what it
verified. Any recipe change replaces the image the default Pulumi way: the new archive is
built first, then the old one is deleted (guests that still name the old archive are
replaced in the same run, or fail on protection, before it goes). ``delete`` removes the
archive unless ``retain`` is set.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, fields
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
from felhom_provider.resources._provider import RuntimeProvider
from felhom_provider.resources._runtime import scrubbed
from felhom_provider.resources._validate import (
    BRIDGE_RE,
    HOSTNAME_RE,
    NODE_RE,
    STORAGE_RE,
    VMID_MAX,
    VMID_MIN,
    VOLID_RE,
    Checker,
    finish_check,
)

GOLDEN_TABLE = DiffTable(
    # The recipe: anything that changes what ends up in the archive. ``revision`` is a
    # deliberate "rebuild now" knob (e.g. for fresh Docker packages).
    replace=frozenset(
        {
            "node",
            "template",
            "hostname",
            "rootfs_storage",
            "rootfs_gib",
            "cores",
            "memory_mib",
            "bridge",
            "archive_storage",
            "revision",
        }
    ),
    # Bookkeeping only: the archive stays as it is.
    update=frozenset({"name", "owner", "build_vmid", "retain"}),
)

#: Outputs only the build observes; ``read`` finds them in the archive's notes.
BUILD_FACTS = ("docker_driver", "openssh_version")

#: Outputs the engine reports, in addition to every input.
COMPUTED_OUTPUTS = (
    "archive",
    "size_bytes",
    "golden_mac",
    "golden_hostname",
    "features",
    "unprivileged",
    "docker_driver",
    "openssh_version",
    "created_at",
)


#: ``GoldenSpec``'s defaults: the engine's spec owns them, the args and ``check`` reuse them.
_DEFAULTS: dict[str, Any] = {
    f.name: f.default for f in fields(GoldenSpec) if f.default is not MISSING
}
#: How each spec field is restored from the wire (numbers arrive as floats).
_SPEC_KINDS: dict[str, Callable[[Any], Any]] = {
    f.name: {"int": int, "int | None": int, "bool": bool}.get(str(f.type), str)
    for f in fields(GoldenSpec)
}


@dataclass(frozen=True)
class GoldenImageArgs:
    """Typed inputs of ``GoldenImage``: the build recipe (the seed's recipe) and ``retain``."""

    owner: str
    node: str
    template: str
    hostname: str = _DEFAULTS["hostname"]
    rootfs_storage: str = _DEFAULTS["rootfs_storage"]
    rootfs_gib: int = _DEFAULTS["rootfs_gib"]
    cores: int = _DEFAULTS["cores"]
    memory_mib: int = _DEFAULTS["memory_mib"]
    bridge: str = _DEFAULTS["bridge"]
    archive_storage: str = _DEFAULTS["archive_storage"]
    build_vmid: int | None = None
    retain: bool = False
    revision: int = 1

    def to_props(self, name: str) -> dict[str, Any]:
        """The resource's input properties, snake_case as they appear in state."""
        return {"name": name, **{k: getattr(self, k) for k in self.__dataclass_fields__}}


def check_golden(olds: Mapping[str, Any], news: Mapping[str, Any]) -> CheckResult:
    """Validate and normalise the recipe (no I/O); failures name the field."""
    del olds
    c, d = Checker(news), _DEFAULTS
    inputs: dict[str, Any] = {
        "name": c.string("name"),
        "owner": c.string("owner"),
        "node": c.string("node", pattern=NODE_RE, hint="a PVE node name"),
        "template": c.string("template", pattern=VOLID_RE, hint="a volume id <storage>:<volume>"),
        "hostname": c.string(
            "hostname",
            pattern=HOSTNAME_RE,
            hint="one lower-case DNS label",
            default=d["hostname"],
        ),
        "rootfs_storage": c.string(
            "rootfs_storage", pattern=STORAGE_RE, default=d["rootfs_storage"]
        ),
        "rootfs_gib": c.integer("rootfs_gib", minimum=1, maximum=131072, default=d["rootfs_gib"]),
        "cores": c.integer("cores", minimum=1, maximum=8192, default=d["cores"]),
        "memory_mib": c.integer("memory_mib", minimum=16, default=d["memory_mib"]),
        "bridge": c.string("bridge", pattern=BRIDGE_RE, default=d["bridge"]),
        "archive_storage": c.string(
            "archive_storage", pattern=STORAGE_RE, default=d["archive_storage"]
        ),
        "build_vmid": c.integer("build_vmid", minimum=VMID_MIN, maximum=VMID_MAX, optional=True),
        "retain": c.boolean("retain", default=d["retain"]),
        "revision": c.integer("revision", minimum=1, default=1),
    }
    return finish_check(c, news, inputs, GOLDEN_TABLE, spec_from_inputs)


def spec_from_inputs(props: Mapping[str, Any]) -> GoldenSpec:
    """The engine's spec from checked inputs (ints restored from wire floats); an input
    that is absent takes ``GoldenSpec``'s default, the one place the defaults live."""
    values: dict[str, Any] = {}
    for key, kind in _SPEC_KINDS.items():
        if props.get(key) is not None:
            values[key] = kind(props[key])
    return GoldenSpec(**values)


def outputs(inputs: Mapping[str, Any], state: GoldenState) -> dict[str, Any]:
    """Every input plus the engine's report (JSON-safe; ints stay ints)."""
    outs = {k: v for k, v in inputs.items() if k in GOLDEN_TABLE.inputs and v is not None}
    outs.update(state.to_dict())
    return outs


class GoldenImageProvider(RuntimeProvider):
    """The dynamic provider behind ``GoldenImage``; nothing of it is pickled but its class."""

    kind = "golden"

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        """Validate the recipe without I/O."""
        return check_golden(olds, news)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        """Recipe changes replace, new archive first (archives never collide)."""
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
        return ReadResult(id_, outs, {k: v for k, v in outs.items() if k in GOLDEN_TABLE.inputs})

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        """Only bookkeeping inputs change in place: keep the archive facts, take the inputs."""
        outs = {k: v for k, v in olds.items() if k not in GOLDEN_TABLE.inputs}
        outs.update({k: v for k, v in news.items() if k in GOLDEN_TABLE.inputs})
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
    """The golden archive (Debian 13 + Docker, identity-cleaned, keyctl/nesting)."""

    archive: pulumi.Output[str]
    size_bytes: pulumi.Output[int]
    golden_mac: pulumi.Output[str]
    golden_hostname: pulumi.Output[str]
    features: pulumi.Output[str]
    unprivileged: pulumi.Output[bool]
    docker_driver: pulumi.Output[str]
    openssh_version: pulumi.Output[str]
    created_at: pulumi.Output[str]
    node: pulumi.Output[str]
    retain: pulumi.Output[bool]

    def __init__(
        self,
        resource_name: str,
        args: GoldenImageArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = args.to_props(resource_name)
        for key in COMPUTED_OUTPUTS:
            props[key] = None
        super().__init__(GoldenImageProvider(), resource_name, props, opts)
