"""The stack program: typed stack config (docs/stack-config.md) -> resources -> exported outputs.

``load_program_config`` validates everything before a resource is declared, so bad config
fails at preview with a ``ConfigError`` naming the key (``felhom:guests[1].memory``).
``declare`` creates the resources (the stack identity first: every ownership marker carries
its id) and returns the exports; ``__main__.py`` only wires the two together. The output
schema is documented in ``docs/stack-config.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal, NamedTuple

import pulumi

from felhom_provider.errors import ConfigError
from felhom_provider.resources import Checker, check_guest
from felhom_provider.resources.golden_image import (
    GOLDEN_EXPORT,
    GoldenImage,
    GoldenImageArgs,
    check_golden,
)
from felhom_provider.resources.guest import FelhomGuest, FelhomGuestArgs
from felhom_provider.resources.stack_identity import StackIdentity
from felhom_provider.settings import (
    KEY_TOKEN_SECRET,
    NAMESPACE,
    ConfigGetter,
    ProviderSettings,
    as_mapping,
    decode,
    parse_settings,
    require_str,
)
from felhom_provider.spec.golden import GOLDEN
from felhom_provider.spec.guest import COMPUTED as GUEST_COMPUTED
from felhom_provider.spec.guest import GUEST
from felhom_provider.spec.stack import STACK

KEY_GOLDEN = f"{NAMESPACE}:golden"
KEY_GUESTS = f"{NAMESPACE}:guests"
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
    """The validated stack config of one customer stack (``stack``: the ``spec.stack``
    keys, checked and defaulted, without the namespace)."""

    project: str
    stack: str
    node: str
    golden: GoldenSource
    guests: tuple[tuple[str, FelhomGuestArgs], ...]
    protect: bool
    settings: Mapping[str, Any]


#: Name of the ``StackIdentity`` resource (its own type, so no guest name collides with it).
IDENTITY_NAME = "stack"


def owner_marker(project: str, stack: str, name: str, stack_id: str | None = None) -> str:
    """The ownership marker ``[<stackId>:]<project>/<stack>/<name>`` (design §2.10).

    The stack id (the ``StackIdentity`` resource's, drawn at the first ``up`` and kept in
    state, or an explicit ``felhom:stackId``) tells apart two stacks of the same name in two
    backends; a resource keeps its first marker, so a renamed stack keeps its guests. Without
    an id (validation before the id is known) the marker is the bare path.
    """
    base = f"{project}/{stack}/{name}"
    return f"{stack_id}:{base}" if stack_id else base


def _first_failure(prefix: str, failures: list[Any], sep: str = ".") -> ConfigError:
    failure = failures[0]
    return ConfigError(f"{prefix}{sep}{failure.property}", failure.reason.split(": ", 1)[-1])


def _golden(raw: Any, owner: str, node: str) -> GoldenSource:
    if raw is None:
        raise ConfigError(KEY_GOLDEN, "is required: one of {build: {...}}, {archive}, {fromStack}")
    obj = as_mapping(KEY_GOLDEN, raw)
    chosen = [k for k in ("build", "archive", "fromStack") if obj.get(k) is not None]
    if len(chosen) != 1:
        raise ConfigError(KEY_GOLDEN, "set exactly one of build, archive or fromStack")
    if chosen[0] == "archive":
        try:
            archive = GUEST.by_key["archive"].validate(obj["archive"])
        except ValueError as exc:
            raise ConfigError(f"{KEY_GOLDEN}.archive", str(exc)) from None
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
    build = dict(as_mapping(key, obj["build"]))
    unknown = sorted(set(build) - set(GOLDEN.keys(stack_only=True)))
    if unknown:
        raise ConfigError(
            f"{key}.{unknown[0]}", f"unknown key (known: {GOLDEN.keys(stack_only=True)})"
        )
    result = check_golden({}, {"name": "golden", "owner": owner, "node": node, **build})
    if result.failures:
        raise _first_failure(key, result.failures)
    return GoldenSource("build", build=GoldenImageArgs(dict(result.inputs)))


def _guest(
    index: int, raw: Any, project: str, stack: str, shared: Mapping[str, Any]
) -> dict[str, Any]:
    prefix = f"{KEY_GUESTS}[{index}]"
    obj = as_mapping(prefix, raw)
    known = GUEST.keys(stack_only=True)
    unknown = sorted(set(obj) - set(known))
    if unknown:
        raise ConfigError(f"{prefix}.{unknown[0]}", f"unknown key (known: {known})")
    name = require_str(prefix, obj, "name")
    props = {k: v for k, v in shared.items() if k != "stackId"}
    props.update({"archive": _PLACEHOLDER_ARCHIVE, **obj})
    props["owner"] = owner_marker(project, stack, name, shared.get("stackId"))
    result = check_guest({}, props)
    if result.failures:
        raise _first_failure(prefix, result.failures)
    return dict(result.inputs)


def _stack_keys(get: ConfigGetter, settings: ProviderSettings) -> dict[str, Any]:
    """The ``spec.stack`` keys, checked; the host-key check must be possible here."""
    raw = {f.key: decode(f"{NAMESPACE}:{f.key}", get(f"{NAMESPACE}:{f.key}")) for f in STACK.fields}
    checker = Checker(raw)
    values = checker.walk(STACK)
    if checker.failures:
        raise _first_failure(NAMESPACE, checker.failures, ":")
    has_shell = settings.node_shell is not None
    if values.get("hostKeyCheck") is None:
        values["hostKeyCheck"] = "both" if has_shell else "handshake"
    if values["hostKeyCheck"] != "handshake" and not has_shell:
        raise ConfigError(
            f"{NAMESPACE}:hostKeyCheck",
            f"{values['hostKeyCheck']} reads keys over the node shell: configure felhom:nodeShell "
            "or use handshake",
        )
    return values


def _cross_check(guests: list[dict[str, Any]], golden: GoldenSource, has_shell: bool) -> None:
    """Rules across guests: unique names, hostnames, static addresses, MACs and VMIDs; no
    VMID in the golden build's reserved range; SSH keys need the node shell."""
    seen: dict[str, int] = {}
    reserved = golden.build.values.get("reservedVmids") if golden.build else None
    for index, g in enumerate(guests):
        prefix = f"{KEY_GUESTS}[{index}]"
        net = g.get("network") or {}
        ip = net.get("ip", "dhcp")
        for label, value in (
            ("name", g["name"]),
            ("hostname", g["hostname"]),
            ("network.ip", None if ip == "dhcp" else ip.split("/", 1)[0]),
            (
                "network.ip6",
                None if net.get("ip6") in (None, "auto", "dhcp") else net["ip6"].split("/", 1)[0],
            ),
            ("network.mac", net.get("mac")),
            ("vmid", g.get("vmid")),
            ("import", g.get("import")),
        ):
            if value is None:
                continue
            slot = f"vmid:{value}" if label in ("vmid", "import") else f"{label}:{value}"
            if slot in seen:
                raise ConfigError(
                    f"{prefix}.{label}", f"{value!r} is used twice (also guest {seen[slot]})"
                )
            seen[slot] = index
        vmid = g.get("vmid") or g.get("import")
        if reserved and vmid is not None and reserved["first"] <= vmid <= reserved["last"]:
            raise ConfigError(
                f"{prefix}.vmid",
                f"{vmid} is in the golden build's reserved range "
                f"{reserved['first']}..{reserved['last']}",
            )
        if (g.get("sshAuthorizedKeys") or g.get("operatorSshAuthorizedKeys")) and not has_shell:
            raise ConfigError(
                f"{prefix}.sshAuthorizedKeys",
                "SSH keys are written over the node shell (pct exec): configure felhom:nodeShell",
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
    stack_keys = _stack_keys(get, settings)
    stack_id = stack_keys.get("stackId")
    golden = _golden(get(KEY_GOLDEN), owner_marker(project, stack, "golden", stack_id), node)
    raw_guests = decode(KEY_GUESTS, get(KEY_GUESTS))
    if raw_guests is None:
        raw_guests = []
    if not isinstance(raw_guests, list):
        raise ConfigError(KEY_GUESTS, "must be a list of guests")
    shared = {
        "node": node,
        "protection": stack_keys["protect"],
        "operatorSshAuthorizedKeys": stack_keys["sshAuthorizedKeys"],
        "hostKeyCheck": stack_keys["hostKeyCheck"],
        "restarts": stack_keys["restarts"],
        "stackId": stack_id,
    }
    checked = [_guest(i, raw, project, stack, shared) for i, raw in enumerate(raw_guests)]
    _cross_check(checked, golden, settings.node_shell is not None)
    guests = tuple(
        (g["name"], FelhomGuestArgs({k: v for k, v in g.items() if k != "archive"}))
        for g in checked
    )
    return ProgramConfig(project, stack, node, golden, guests, stack_keys["protect"], stack_keys)


#: The ``guests.<name>`` export: every guest input and computed output, same names.
_GUEST_EXPORT = tuple(dict.fromkeys((*GUEST_COMPUTED, *(f.key for f in GUEST.fields if f.output))))


def _export(resource: pulumi.Resource, keys: tuple[str, ...]) -> pulumi.Output[dict[str, Any]]:
    """One output holding ``{key: the resource's output of that name}`` (unset ones left out)."""
    return pulumi.Output.all(**{key: getattr(resource, key) for key in keys}).apply(
        lambda o: {k: v for k, v in o.items() if v is not None}
    )


def _golden_export(image: GoldenImage) -> pulumi.Output[dict[str, Any]]:
    return _export(image, GOLDEN_EXPORT).apply(lambda o: {"source": "build", **o})


def _archive_from(value: Any, stack: str, output: str) -> str:
    if isinstance(value, Mapping) and isinstance(value.get("archive"), str):
        return str(value["archive"])
    if isinstance(value, str) and ":" in value:
        return value
    raise ConfigError(
        f"{KEY_GOLDEN}.fromStack", f"stack {stack} has no archive in its output {output!r}"
    )


def _guest_export(guest: FelhomGuest) -> pulumi.Output[dict[str, Any]]:
    return _export(guest, _GUEST_EXPORT)


class StackOutputs(NamedTuple):
    """The stack's exports: ``goldenImage``, ``guests`` and ``stackId``."""

    golden_image: pulumi.Output[Any]
    guests: dict[str, pulumi.Output[Any]]
    stack_id: pulumi.Output[str]


def stack_id_of(cfg: ProgramConfig) -> pulumi.Output[str]:
    """Declare the stack identity; the id every marker carries.

    An explicit ``felhom:stackId`` wins (the recovery path after a lost state: the old id
    re-adopts the old guests) and seeds a new identity; otherwise the identity's id, which is
    unknown until its first ``create``.
    """
    configured = cfg.settings.get("stackId")
    identity = StackIdentity(IDENTITY_NAME, configured)
    if configured:
        return pulumi.Output.from_input(str(configured))
    return identity.stackId


def _owned(values: Mapping[str, Any], owner: pulumi.Output[str]) -> dict[str, Any]:
    """``values`` with the marker that carries the stack id (validated without it)."""
    return {**values, "owner": owner}


def declare(cfg: ProgramConfig) -> StackOutputs:
    """Declare the stack identity, the golden image (or reference it) and one guest per
    entry; return the exports."""
    stack_id = stack_id_of(cfg)

    def owner(name: str) -> pulumi.Output[str]:
        return stack_id.apply(lambda sid: owner_marker(cfg.project, cfg.stack, name, sid))

    golden = cfg.golden
    archive: pulumi.Input[str]
    if golden.kind == "build" and golden.build is not None:
        image = GoldenImage("golden", GoldenImageArgs(_owned(golden.build.values, owner("golden"))))
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
            replace(args, values=_owned(args.values, owner(name)), archive=archive),
            pulumi.ResourceOptions(protect=cfg.protect),
        )
        guests[name] = _guest_export(guest)
    return StackOutputs(golden_export, guests, stack_id)
