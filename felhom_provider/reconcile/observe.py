"""Observe: turn a CT config and its live facts into the published ``GuestState``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from felhom_provider.reconcile.model import FELHOM_TAG, GuestState, owner_tag
from felhom_provider.reconcile.plan import Observed, archive_of
from felhom_provider.reconcile.props import parse_property_string


def mac_of(config: Mapping[str, Any]) -> str:
    """The ``hwaddr`` of ``net0`` in upper case, or empty."""
    return parse_property_string(str(config.get("net0", "")), "name").get("hwaddr", "").upper()


def state_from(
    vmid: int,
    node: str,
    config: Mapping[str, Any],
    *,
    status: str,
    ipv4: str | None,
    host_keys: dict[str, str],
    owner: str,
) -> GuestState:
    """Build the outputs; our own tags (``felhom``, the owner hash) are left out of ``tags``
    so they compare equal to the resource's input."""
    obs = Observed.from_config(config, running=status == "running")
    ours = {FELHOM_TAG, owner_tag(owner)}
    return GuestState(
        vmid=int(vmid),
        node=node,
        hostname=obs.hostname,
        mac=mac_of(config),
        ipv4=ipv4,
        status=status,
        cores=obs.cores,
        memory_mib=obs.memory_mib,
        swap_mib=obs.swap_mib,
        rootfs_gib=obs.rootfs_gib,
        mounts=tuple(obs.mounts[i] for i in sorted(obs.mounts)),
        host_keys=dict(sorted(host_keys.items())),
        archive=archive_of(config) or "",
        owner=obs.owner or owner,
        tags=tuple(sorted(t for t in obs.tags if t not in ours)),
    )
