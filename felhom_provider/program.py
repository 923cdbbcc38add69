"""The stack program: typed stack config (docs/stack-config.md) -> resources -> exported outputs.

``load_program_config`` validates everything before a resource is declared, so bad config
fails at preview with a ``ConfigError`` naming the key (``felhom:guests[1].memory``).
``declare`` creates the resources and returns the two exports; ``__main__.py`` only wires
the two together. The output schema is documented in ``docs/stack-config.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

import pulumi

from felhom_provider.errors import ConfigError
from felhom_provider.resources._guest_check import check_guest
from felhom_provider.resources.golden_image import GoldenImage, GoldenImageArgs, check_golden
from felhom_provider.resources.guest import FelhomGuest, FelhomGuestArgs, MountArgs
from felhom_provider.settings import (
    KEY_TOKEN_SECRET,
    NAMESPACE,
    ConfigGetter,
    as_mapping,
    decode,
    parse_settings,
    require_str,
)

KEY_GOLDEN = f"{NAMESPACE}:golden"
KEY_GUESTS = f"{NAMESPACE}:guests"
KEY_PROTECT = f"{NAMESPACE}:protect"

# Guest config keys (camelCase, as in the stack file) -> resource inputs (snake_case).
GUEST_KEYS = {
    "name": "name",
    "hostname": "hostname",
    "node": "node",
    "cores": "cores",
    "memory": "memory_mib",
    "swap": "swap_mib",
    "rootfsStorage": "rootfs_storage",
    "rootfsGiB": "rootfs_gib",
    "mounts": "mounts",
    "bridge": "bridge",
    "vmid": "pinned_vmid",
    "tags": "tags",
}
BUILD_KEYS = {
    "template": "template",
    "hostname": "hostname",
    "rootfsStorage": "rootfs_storage",
    "rootfsGiB": "rootfs_gib",
    "cores": "cores",
    "memory": "memory_mib",
    "bridge": "bridge",
    "archiveStorage": "archive_storage",
    "buildVmid": "build_vmid",
    "retain": "retain",
    "revision": "revision",
}
_INPUT_TO_KEY = {v: k for k, v in GUEST_KEYS.items()} | {"size_gib": "sizeGiB"}
# Stands in for the archive while validating guests whose archive is not known yet.
_PLACEHOLDER_ARCHIVE = "local:backup/placeholder.tar.zst"


@dataclass(frozen=True)
class GoldenSource:
    """Where the guests' archive comes from: built here, a given volid, or another stack."""

    kind: Literal["build", "archive", "stack"]
    build: GoldenImageArgs | None = None
    archive: str | None = None
    stack: str | None = None
    output: str = "goldenImage"


@dataclass(frozen=True)
class ProgramConfig:
    """The validated stack config of one customer stack."""

    project: str
    stack: str
    node: str
    golden: GoldenSource
    guests: tuple[tuple[str, FelhomGuestArgs], ...]
    protect: bool


def owner_marker(project: str, stack: str, name: str) -> str:
    """The ownership marker ``<project>/<stack>/<name>`` (design §2.10)."""
    return f"{project}/{stack}/{name}"


def _config_field(prefix: str, failure_property: str) -> str:
    """``mounts[0].size_gib`` -> ``felhom:guests[2].mounts[0].sizeGiB``."""
    parts = []
    for part in failure_property.split("."):
        base, bracket, rest = part.partition("[")
        parts.append(_INPUT_TO_KEY.get(base, base) + (bracket + rest if bracket else ""))
    return f"{prefix}.{'.'.join(parts)}"


def _golden(raw: Any, owner: str, node: str) -> GoldenSource:
    if raw is None:
        raise ConfigError(KEY_GOLDEN, "is required: one of {build: {...}}, {archive}, {fromStack}")
    obj = as_mapping(KEY_GOLDEN, raw)
    chosen = [k for k in ("build", "archive", "fromStack") if obj.get(k) is not None]
    if len(chosen) != 1:
        raise ConfigError(KEY_GOLDEN, "set exactly one of build, archive or fromStack")
    if chosen[0] == "archive":
        archive = require_str(KEY_GOLDEN, obj, "archive")
        if ":" not in archive:
            raise ConfigError(f"{KEY_GOLDEN}.archive", "must be a volume id <storage>:<volume>")
        return GoldenSource("archive", archive=archive)
    if chosen[0] == "fromStack":
        ref = decode(f"{KEY_GOLDEN}.fromStack", obj["fromStack"])
        if isinstance(ref, str):
            ref = {"stack": ref}
        ref = as_mapping(f"{KEY_GOLDEN}.fromStack", ref)
        return GoldenSource(
            "stack",
            stack=require_str(f"{KEY_GOLDEN}.fromStack", ref, "stack"),
            output=require_str(f"{KEY_GOLDEN}.fromStack", ref, "output", default="goldenImage"),
        )
    key = f"{KEY_GOLDEN}.build"
    build = as_mapping(key, obj["build"])
    unknown = sorted(set(build) - set(BUILD_KEYS))
    if unknown:
        raise ConfigError(f"{key}.{unknown[0]}", f"unknown key (known: {sorted(BUILD_KEYS)})")
    values: dict[str, Any] = {"owner": owner, "node": str(build.get("node", node))}
    for cfg_key, arg in BUILD_KEYS.items():
        if cfg_key in build:
            values[arg] = build[cfg_key]
    result = check_golden({}, {"name": "golden", **values})
    if result.failures:
        failure = result.failures[0]
        inv = {v: k for k, v in BUILD_KEYS.items()}
        reason = failure.reason.split(": ", 1)[-1]
        raise ConfigError(f"{key}.{inv.get(failure.property, failure.property)}", reason)
    checked = {k: v for k, v in result.inputs.items() if k != "name"}
    return GoldenSource("build", build=GoldenImageArgs(**checked))


def _guest(index: int, raw: Any, project: str, stack: str, node: str) -> FelhomGuestArgs:
    prefix = f"{KEY_GUESTS}[{index}]"
    obj = as_mapping(prefix, raw)
    unknown = sorted(set(obj) - set(GUEST_KEYS))
    if unknown:
        raise ConfigError(f"{prefix}.{unknown[0]}", f"unknown key (known: {sorted(GUEST_KEYS)})")
    name = require_str(prefix, obj, "name")
    props: dict[str, Any] = {"owner": owner_marker(project, stack, name), "node": node}
    props["archive"] = _PLACEHOLDER_ARCHIVE
    for cfg_key, arg in GUEST_KEYS.items():
        if cfg_key in obj:
            props[arg] = obj[cfg_key]
    mounts = props.get("mounts")
    if isinstance(mounts, list):
        props["mounts"] = [
            {("size_gib" if k == "sizeGiB" else k): v for k, v in as_mapping(prefix, m).items()}
            for m in mounts
        ]
    result = check_guest({}, props)
    if result.failures:
        failure = result.failures[0]
        reason = failure.reason.split(": ", 1)[-1]
        raise ConfigError(_config_field(prefix, failure.property), reason)
    checked = result.inputs
    return FelhomGuestArgs(
        owner=checked["owner"],
        node=checked["node"],
        archive=_PLACEHOLDER_ARCHIVE,
        hostname=checked["hostname"],
        cores=checked["cores"],
        memory_mib=checked["memory_mib"],
        swap_mib=checked["swap_mib"],
        rootfs_storage=checked["rootfs_storage"],
        rootfs_gib=checked["rootfs_gib"],
        mounts=tuple(MountArgs(**m) for m in checked["mounts"]),
        bridge=checked["bridge"],
        pinned_vmid=checked.get("pinned_vmid"),
        tags=tuple(checked["tags"]),
    )


def load_program_config(
    get: ConfigGetter, *, project: str, stack: str, secret_is_set: bool
) -> ProgramConfig:
    """Validate the whole stack config; the first problem raises a ConfigError naming it.

    ``get`` returns raw config values (JSON text for objects). The token secret is never
    read here: ``secret_is_set`` says whether it is configured as a secret.
    """

    def get_but_the_secret(key: str) -> Any:
        if key == KEY_TOKEN_SECRET:
            return "set" if secret_is_set else None
        return get(key)

    settings = parse_settings(get_but_the_secret)
    node = settings.pve.node
    golden = _golden(get(KEY_GOLDEN), owner_marker(project, stack, "golden"), node)
    raw_guests = decode(KEY_GUESTS, get(KEY_GUESTS))
    if raw_guests is None:
        raw_guests = []
    if not isinstance(raw_guests, list):
        raise ConfigError(KEY_GUESTS, "must be a list of guests")
    guests: list[tuple[str, FelhomGuestArgs]] = []
    seen: dict[str, str] = {}
    for index, raw in enumerate(raw_guests):
        args = _guest(index, raw, project, stack, node)
        name = args.owner.rsplit("/", 1)[-1]
        for label, value in (("name", name), ("hostname", args.hostname)):
            if f"{label}:{value}" in seen:
                raise ConfigError(f"{KEY_GUESTS}[{index}].{label}", f"{value!r} is used twice")
            seen[f"{label}:{value}"] = name
        guests.append((name, args))
    protect = decode(KEY_PROTECT, get(KEY_PROTECT))
    if protect is None:
        protect = True
    if not isinstance(protect, bool):
        raise ConfigError(KEY_PROTECT, "must be true or false")
    return ProgramConfig(project, stack, node, golden, tuple(guests), protect)


#: ``goldenImage`` export key -> ``GoldenImage`` output (camelCase for other tooling).
_GOLDEN_EXPORT = {
    "archive": "archive",
    "goldenMac": "golden_mac",
    "goldenHostname": "golden_hostname",
    "features": "features",
    "sizeBytes": "size_bytes",
    "createdAt": "created_at",
    "dockerDriver": "docker_driver",
    "opensshVersion": "openssh_version",
    "retain": "retain",
}
#: ``guests.<name>`` export key -> ``FelhomGuest`` output.
_GUEST_EXPORT = {
    "vmid": "vmid",
    "node": "node",
    "hostname": "hostname",
    "mac": "mac",
    "ipv4": "ipv4",
    "hostKeys": "host_keys",
    "archive": "archive",
    "state": "state",
    "cores": "cores",
    "memoryMiB": "memory_mib",
    "swapMiB": "swap_mib",
    "rootfsGiB": "rootfs_gib",
    "mounts": "mounts",
    "tags": "tags",
    "owner": "owner",
}


def _export(resource: pulumi.Resource, keys: Mapping[str, str]) -> pulumi.Output[dict[str, Any]]:
    """One output holding ``{export key: the resource's output}``."""
    return pulumi.Output.all(**{key: getattr(resource, attr) for key, attr in keys.items()})


def _golden_export(image: GoldenImage) -> pulumi.Output[dict[str, Any]]:
    return _export(image, _GOLDEN_EXPORT).apply(lambda o: {"source": "build", **o})


def _archive_from(value: Any, stack: str, output: str) -> str:
    if isinstance(value, Mapping) and isinstance(value.get("archive"), str):
        return str(value["archive"])
    if isinstance(value, str) and ":" in value:
        return value
    raise ConfigError(
        f"{KEY_GOLDEN}.fromStack", f"stack {stack} has no archive in its output {output!r}"
    )


def _guest_export(guest: FelhomGuest) -> pulumi.Output[dict[str, Any]]:
    def shape(o: dict[str, Any]) -> dict[str, Any]:
        mounts = o["mounts"] or []
        return {
            **o,
            "mounts": [
                {"storage": m["storage"], "sizeGiB": m["size_gib"], "path": m["path"]}
                for m in mounts
            ],
            "tags": o["tags"] or [],
        }

    return _export(guest, _GUEST_EXPORT).apply(shape)


def declare(cfg: ProgramConfig) -> tuple[pulumi.Output[Any], dict[str, pulumi.Output[Any]]]:
    """Declare the golden image (or reference it) and one guest per entry; return exports."""
    golden = cfg.golden
    archive: pulumi.Input[str]
    if golden.kind == "build" and golden.build is not None:
        image = GoldenImage("golden", golden.build)
        archive, golden_export = image.archive, _golden_export(image)
    elif golden.kind == "archive" and golden.archive is not None:
        archive = golden.archive
        golden_export = pulumi.Output.from_input({"source": "archive", "archive": archive})
    else:
        ref_name, output = str(golden.stack), golden.output
        ref = pulumi.StackReference(ref_name)
        archive = ref.get_output(output).apply(lambda v: _archive_from(v, ref_name, output))
        golden_export = pulumi.Output.all(archive=archive).apply(
            lambda o: {"source": "stack", "stack": ref_name, "archive": o["archive"]}
        )
    guests: dict[str, pulumi.Output[Any]] = {}
    for name, args in cfg.guests:
        guest = FelhomGuest(
            name,
            replace(args, archive=archive),
            pulumi.ResourceOptions(protect=cfg.protect),
        )
        guests[name] = _guest_export(guest)
    return golden_export, guests
