"""``FelhomGuest``: one customer Docker host, restored from the golden archive.

The provider is pickled into state by reference (this module is installed and has no
import-time side effects) and carries nothing: settings, clients and locks come from the
stack config in ``configure()``. Inputs are validated in ``check`` (no I/O), compared in
``diff`` through an explicit table, and every CRUD call echoes all inputs into the outputs,
because Pulumi gives ``diff`` and ``update`` the old *outputs*.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import pulumi
from pulumi.dynamic import (
    CheckResult,
    ConfigureRequest,
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    UpdateResult,
)

from felhom_provider.errors import ConfigError
from felhom_provider.guest.knownhosts import known_hosts_lines
from felhom_provider.reconcile.model import FELHOM_TAG, GuestState, owner_tag
from felhom_provider.resources._diff import compute_diff
from felhom_provider.resources._guest_check import GUEST_TABLE, check_guest, spec_from_inputs
from felhom_provider.resources._guest_roll import RollConfig, announce, preview_text, roll_change
from felhom_provider.resources._legacy import GUEST_RENAMES, upgrade
from felhom_provider.resources._provider import RuntimeProvider
from felhom_provider.resources._runtime import scrubbed
from felhom_provider.spec.guest import COMPUTED, GUEST

#: The user the published SSH access is for (keys go to /root/.ssh/authorized_keys).
SSH_USER = "root"


@dataclass(frozen=True)
class FelhomGuestArgs:
    """Inputs of ``FelhomGuest``: the checked field-table values (``spec.guest.GUEST``,
    keyed as in the stack config) and the archive, which may be another resource's output."""

    values: Mapping[str, Any]
    archive: pulumi.Input[str] | None = None

    def to_props(self, name: str) -> dict[str, Any]:
        """The resource's input properties, named as in the stack config and the outputs."""
        props = {k: v for k, v in self.values.items() if k in GUEST.by_key and v is not None}
        props["name"] = name
        if self.archive is not None:
            props["archive"] = self.archive
        return props


def user_tags(state: GuestState) -> list[str]:
    """The guest's tags without the ones the engine adds (``felhom`` and the owner hash)."""
    ours = {FELHOM_TAG, owner_tag(state.owner)}
    return sorted(t for t in state.tags if t not in ours)


def _network(inputs: Mapping[str, Any], observed: Any) -> Any:
    """The observed ``network``; its MAC only when the input pins one (PVE fills it)."""
    if not isinstance(observed, Mapping):
        return inputs.get("network")
    declared = inputs.get("network")
    pinned = isinstance(declared, Mapping) and declared.get("mac") is not None
    return {k: v for k, v in observed.items() if k != "mac" or pinned}


def outputs(inputs: Mapping[str, Any], state: GuestState) -> dict[str, Any]:
    """Every input, overlaid with what PVE reports, plus the computed outputs (JSON-safe).

    Observed values win over inputs so that ``refresh`` shows drift; mounts are sorted by
    path, as ``check`` sorts them, so that order never shows as a change.
    """
    outs = {k: v for k, v in inputs.items() if k in GUEST.by_key and v is not None}
    observed = {k: v for k, v in state.settings.items() if k in GUEST.by_key}
    observed["network"] = _network(inputs, observed.get("network"))
    outs.update({k: v for k, v in observed.items() if v is not None})
    outs.update(
        node=state.node,
        hostname=state.hostname,
        cores=state.cores,
        memory=state.memory,
        swap=state.swap,
        rootfsGiB=state.rootfs_gib,
        mounts=sorted((m.to_dict() for m in state.mounts), key=lambda m: str(m["path"])),
        archive=state.archive or inputs.get("archive"),
        tags=user_tags(state),
        vmid=state.vmid,
        mac=state.mac,
        ipv4=state.ipv4,
        hostKeys=dict(sorted(state.host_keys.items())),
        hostPublicKeys=dict(sorted(state.host_public_keys.items())),
        knownHosts=known_hosts_lines(
            state.host_public_keys, [state.ipv4, state.hostname], port=state.ssh_port
        ),
        hostKeysVerified=state.host_keys_verified,
        sshPort=state.ssh_port,
        sshUser=SSH_USER,
        pendingRestart=list(state.pending_restart),
        rootfsRebuiltAt=state.rootfs_rebuilt_at,
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
            "rootfs_gib": outs.get("rootfsGiB", 0),
            "host_keys": outs.get("hostKeys") or {},
            "host_public_keys": outs.get("hostPublicKeys") or {},
            "host_keys_verified": outs.get("hostKeysVerified", True),
            "pending_restart": outs.get("pendingRestart") or [],
            "ssh_port": outs.get("sshPort", 22),
            "rootfs_rebuilt_at": outs.get("rootfsRebuiltAt"),
            "settings": {k: outs[k] for k in GUEST.by_key if k in outs},
            "tags": sorted({FELHOM_TAG, owner_tag(owner), *(outs.get("tags") or [])}),
        }
    )


def keep_last_known(state: GuestState, props: Mapping[str, Any]) -> GuestState:
    """A refresh that could not read the host keys (guest stopped or unreachable) keeps the
    last verified ones, marked as not re-checked; it never erases them. A restart still
    pending stays pending while the guest runs (a stopped guest takes everything at start).
    """
    if not state.host_public_keys and props.get("hostPublicKeys"):
        state = replace(
            state,
            host_public_keys=dict(props["hostPublicKeys"]),
            host_keys=dict(props.get("hostKeys") or {}),
            host_keys_verified=False,
        )
    if state.status == "running" and props.get("pendingRestart"):
        state = replace(state, pending_restart=tuple(props["pendingRestart"]))
    return state


class FelhomGuestProvider(RuntimeProvider):
    """The dynamic provider behind ``FelhomGuest``; see the module docstring for the rules."""

    kind = "guest"

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        """Validate and normalise inputs without I/O; failures name the field."""
        return check_guest(upgrade(olds, GUEST_RENAMES), news)

    def configure(self, req: ConfigureRequest) -> None:
        """The shared settings, plus what a golden roll needs (``felhom:rollout``, whether a
        node shell exists); a bad value is raised by the first ``update`` that rolls."""
        super().configure(req)
        try:
            self.__dict__["_roll_config"] = RollConfig.from_config(req.config.get)
        except ConfigError as exc:
            self.__dict__["_roll_config"] = exc

    @property
    def _rolls(self) -> RollConfig:
        found = self.__dict__.get("_roll_config")
        if isinstance(found, ConfigError):
            raise found
        return found if isinstance(found, RollConfig) else RollConfig()

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        """Explicit table; always delete-before-replace (see docs/stack-config.md).

        The hostname and the ownership marker of a guest are fixed, and ``create`` adopts a
        guest carrying this resource's marker: creating the replacement first would find
        and adopt the very guest that is about to be deleted. A new golden archive, known or
        not yet (built in this run), is an update that rolls it onto the guest; the preview
        says so against the guest (see ``_guest_roll``).
        """
        olds = upgrade(olds, GUEST_RENAMES)
        result = compute_diff(GUEST_TABLE, olds, news, delete_before_replace=True)
        change = roll_change(GUEST_TABLE, olds, news)
        if change is not None and not result.replaces:
            self._announce_roll(olds, preview_text(change, olds, node_shell=self._node_shell()))
        return result

    def _node_shell(self) -> bool:
        try:
            return self._rolls.node_shell
        except ConfigError:
            return True

    def _announce_roll(self, olds: Mapping[str, Any], text: str) -> None:
        owner = str(olds.get("owner") or "")
        try:
            mask = self._holder.get().mask
        except ConfigError:
            return  # the first CRUD call reports the configuration error
        announce(owner, f"golden roll: {text}", mask, warning=not self._node_shell())

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
        props = upgrade(props, GUEST_RENAMES)
        name = str(props.get("name", id_))
        runtime, progress = self._runtime(props.get("owner"))
        with scrubbed(runtime):
            state = runtime.guest_engine(str(props["node"]), progress).read(
                int(id_), str(props["owner"]), str(props.get("hostKeyCheck") or "handshake")
            )
        if state is None:
            progress(f"{name}: vmid {id_} is gone from PVE; dropping it from state")
            return ReadResult(None, {})
        state = keep_last_known(state, props)
        outs = outputs(props, state)
        inputs = {k: v for k, v in outs.items() if k in GUEST.by_key}
        return ReadResult(id_, outs, inputs)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        """Roll a new golden archive onto the guest first (if it changed), then apply the
        in-place changes; returns all outputs.

        The roll keeps the VMID, MAC, hostname, host keys and every data volume, and passes
        ``felhom:rollout``'s gate (one guest at a time by default; after a failure the rest
        of the stack's guests stay on their old image). A failed roll leaves the guest on its
        old root filesystem and raises, naming the guest and the failed check. The engine
        then re-reads the guest's config and plans against it, and its step log says when a
        running guest is rebooted (a new hostname takes effect at start).
        """
        olds = upgrade(olds, GUEST_RENAMES)
        spec = spec_from_inputs({**news, "owner": olds.get("owner", news.get("owner"))})
        runtime, progress = self._runtime(spec.owner)
        old = state_from_outputs(olds)
        change = roll_change(GUEST_TABLE, olds, news)
        with scrubbed(runtime):
            if change is not None:
                rolls = self._rolls
                progress(f"{spec.name}: {preview_text(change, olds, node_shell=rolls.node_shell)}")
                rolled = runtime.roll_engine(spec.node, progress).roll(
                    int(id_), spec, gate=rolls.gate(spec.owner)
                )
                old = rolled.state
            state = runtime.guest_engine(spec.node, progress).update(int(id_), spec, old)
        return UpdateResult(outputs(news, state))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        """Stop and destroy the guest (purge); a guest already gone counts as deleted."""
        runtime, progress = self._runtime(props.get("owner"))
        with scrubbed(runtime):
            runtime.guest_engine(str(props["node"]), progress).delete(int(id_), str(props["owner"]))


class FelhomGuest(Resource, module="felhom", name="Guest"):
    """A customer Docker host on PVE. Outputs: every input (named as in the stack config)
    plus ``spec.guest.COMPUTED``; read them with ``getattr`` or ``pulumi.Output.all``."""

    def __init__(
        self,
        resource_name: str,
        args: FelhomGuestArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = args.to_props(resource_name)
        for key in (*GUEST.keys(), *COMPUTED):
            # Seeded with None so each becomes an output attribute (docs: declaring outputs).
            props.setdefault(key, None)
        super().__init__(FelhomGuestProvider(), resource_name, props, opts)
