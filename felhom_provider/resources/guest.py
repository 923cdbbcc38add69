"""``FelhomGuest``: one customer Docker host, restored from the golden archive.

The provider is pickled into state by reference (this module is installed and has no
import-time side effects) and carries nothing: settings, clients and locks come from the
stack config in ``configure()``. Inputs are validated in ``check`` (no I/O), compared in
``diff`` through an explicit table, and every CRUD call echoes all inputs into the outputs,
because Pulumi gives ``diff`` and ``update`` the old *outputs*.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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

from felhom_provider.reconcile.model import FELHOM_TAG, GuestState, owner_tag
from felhom_provider.resources._diff import compute_diff
from felhom_provider.resources._guest_check import GUEST_TABLE, check_guest, spec_from_inputs
from felhom_provider.resources._provider import RuntimeProvider
from felhom_provider.resources._runtime import scrubbed

#: Outputs computed by the provider, in addition to every input.
COMPUTED_OUTPUTS = ("vmid", "mac", "ipv4", "host_keys", "state")


@dataclass(frozen=True)
class MountArgs:
    """A data volume: ``size_gib`` GiB on ``storage``, mounted at ``path`` in the guest."""

    storage: str
    size_gib: int
    path: str


@dataclass(frozen=True)
class FelhomGuestArgs:
    """Typed inputs of ``FelhomGuest``; ``archive`` may be another resource's output.

    ``owner`` is the ownership marker ``<project>/<stack>/<name>``; it is fixed when the
    guest is created. ``pinned_vmid`` pins the VMID (else PVE's next free id).
    """

    owner: str
    node: str
    archive: pulumi.Input[str]
    hostname: str
    cores: int = 1
    memory_mib: int = 1024
    swap_mib: int = 512
    rootfs_storage: str = "local-lvm"
    rootfs_gib: int = 8
    mounts: Sequence[MountArgs] = field(default_factory=tuple)
    bridge: str = "vmbr0"
    pinned_vmid: int | None = None
    unprivileged: bool = True
    tags: Sequence[str] = field(default_factory=tuple)

    def to_props(self, name: str) -> dict[str, Any]:
        """The resource's input properties, snake_case as they appear in state."""
        return {
            "name": name,
            "owner": self.owner,
            "node": self.node,
            "archive": self.archive,
            "hostname": self.hostname,
            "cores": self.cores,
            "memory_mib": self.memory_mib,
            "swap_mib": self.swap_mib,
            "rootfs_storage": self.rootfs_storage,
            "rootfs_gib": self.rootfs_gib,
            "mounts": [
                {"storage": m.storage, "size_gib": m.size_gib, "path": m.path} for m in self.mounts
            ],
            "bridge": self.bridge,
            "pinned_vmid": self.pinned_vmid,
            "unprivileged": self.unprivileged,
            "tags": list(self.tags),
        }


def user_tags(state: GuestState) -> list[str]:
    """The guest's tags without the ones the engine adds (``felhom`` and the owner hash)."""
    ours = {FELHOM_TAG, owner_tag(state.owner)}
    return sorted(t for t in state.tags if t not in ours)


def outputs(inputs: Mapping[str, Any], state: GuestState) -> dict[str, Any]:
    """Every input, overlaid with what PVE reports, plus the computed outputs (JSON-safe).

    Observed values win over inputs so that ``refresh`` shows drift; mounts are sorted by
    path, as ``check`` sorts them, so that order never shows as a change.
    """
    outs = {k: v for k, v in inputs.items() if k in GUEST_TABLE.inputs and v is not None}
    outs.update(
        node=state.node,
        hostname=state.hostname,
        cores=state.cores,
        memory_mib=state.memory_mib,
        swap_mib=state.swap_mib,
        rootfs_gib=state.rootfs_gib,
        mounts=sorted((m.to_dict() for m in state.mounts), key=lambda m: str(m["path"])),
        archive=state.archive or inputs.get("archive"),
        tags=user_tags(state),
        vmid=state.vmid,
        mac=state.mac,
        ipv4=state.ipv4,
        host_keys=dict(sorted(state.host_keys.items())),
        state=state.status,
    )
    return outs


def state_from_outputs(outs: Mapping[str, Any]) -> GuestState:
    """The last known ``GuestState`` from the outputs in state (engine tags restored)."""
    owner = str(outs["owner"])
    return GuestState.from_dict(
        {
            **outs,
            "status": outs.get("state", "unknown"),
            "mac": outs.get("mac") or "",
            "tags": sorted({FELHOM_TAG, owner_tag(owner), *(outs.get("tags") or [])}),
        }
    )


class FelhomGuestProvider(RuntimeProvider):
    """The dynamic provider behind ``FelhomGuest``; see the module docstring for the rules."""

    kind = "guest"

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        """Validate and normalise inputs without I/O; failures name the field."""
        return check_guest(olds, news)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        """Explicit table; always delete-before-replace (see docs/stack-config.md).

        The hostname and the ownership marker of a guest are fixed, and ``create`` adopts a
        guest carrying this resource's marker: creating the replacement first would find
        and adopt the very guest that is about to be deleted.
        """
        return compute_diff(GUEST_TABLE, olds, news, delete_before_replace=True)

    def create(self, props: dict[str, Any]) -> CreateResult:
        """Bring the guest up (or adopt the one a killed run left); returns id = VMID."""
        spec = spec_from_inputs(props)
        runtime, progress = self._runtime(spec.owner)
        with scrubbed(runtime):
            state = runtime.guest_engine(spec.node, progress).create(spec)
        progress(f"{spec.name}: ready: vmid {state.vmid}, mac {state.mac}, ipv4 {state.ipv4}")
        return CreateResult(str(state.vmid), outputs(props, state))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        """Refresh: the guest as PVE has it now; ``ReadResult(None, {})`` when it is gone."""
        name = str(props.get("name", id_))
        runtime, progress = self._runtime(props.get("owner"))
        with scrubbed(runtime):
            state = runtime.guest_engine(str(props["node"]), progress).read(
                int(id_), str(props["owner"])
            )
        if state is None:
            progress(f"{name}: vmid {id_} is gone from PVE; dropping it from state")
            return ReadResult(None, {})
        outs = outputs(props, state)
        inputs = {k: v for k, v in outs.items() if k in GUEST_TABLE.inputs}
        return ReadResult(id_, outs, inputs)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        """Apply in-place changes; returns all outputs.

        The engine re-reads the guest's config and plans against it, and its step log says
        when a running guest is rebooted (a new hostname takes effect at start).
        """
        spec = spec_from_inputs({**news, "owner": olds.get("owner", news.get("owner"))})
        runtime, progress = self._runtime(spec.owner)
        with scrubbed(runtime):
            state = runtime.guest_engine(spec.node, progress).update(
                int(id_), spec, state_from_outputs(olds)
            )
        return UpdateResult(outputs(news, state))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        """Stop and destroy the guest (purge); a guest already gone counts as deleted."""
        runtime, progress = self._runtime(props.get("owner"))
        with scrubbed(runtime):
            runtime.guest_engine(str(props["node"]), progress).delete(int(id_), str(props["owner"]))


class FelhomGuest(Resource, module="felhom", name="Guest"):
    """A customer Docker host on PVE. Outputs: every input plus the computed ones below."""

    owner: pulumi.Output[str]
    node: pulumi.Output[str]
    archive: pulumi.Output[str]
    hostname: pulumi.Output[str]
    cores: pulumi.Output[int]
    memory_mib: pulumi.Output[int]
    swap_mib: pulumi.Output[int]
    rootfs_storage: pulumi.Output[str]
    rootfs_gib: pulumi.Output[int]
    mounts: pulumi.Output[list[dict[str, Any]]]
    bridge: pulumi.Output[str]
    pinned_vmid: pulumi.Output[int | None]
    unprivileged: pulumi.Output[bool]
    tags: pulumi.Output[list[str]]
    vmid: pulumi.Output[int]
    mac: pulumi.Output[str]
    ipv4: pulumi.Output[str | None]
    host_keys: pulumi.Output[dict[str, str]]
    state: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        args: FelhomGuestArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = args.to_props(resource_name)
        for key in COMPUTED_OUTPUTS:
            # Seeded with None so each becomes an attribute (docs: declaring outputs).
            props[key] = None
        super().__init__(FelhomGuestProvider(), resource_name, props, opts)
