"""Observe: the comparable part of a live guest, and the published ``GuestState``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from felhom_provider.pve.props import (
    GIB,
    Mount,
    as_int,
    config_mount,
    config_property,
    mount_keys,
    split_tags,
)
from felhom_provider.reconcile.model import FELHOM_TAG, GuestState, MountSpec, owner_of, owner_tag
from felhom_provider.reconcile.netconf import settings_from_config
from felhom_provider.reconcile.plan import archive_of
from felhom_provider.reconcile.roll_plan import rebuilt_at_of


def mac_of(config: Mapping[str, Any]) -> str:
    """The ``hwaddr`` of ``net0`` in upper case, or empty."""
    return config_property(config, "net0", default_key="name").get("hwaddr", "").upper()


def volume_gib(config: Mapping[str, Any], key: str) -> float | None:
    """The ``size=`` of a ``rootfs``/``mpN`` key in GiB, or None when it has none."""
    mount = config_mount(config, key)
    return None if mount is None or mount.size is None else mount.size / GIB


def volume_storage(config: Mapping[str, Any], key: str) -> str:
    """The storage id of a ``rootfs``/``mpN`` key (``local-lvm:vm-1-disk-0`` → ``local-lvm``)."""
    mount = config_mount(config, key)
    return "" if mount is None else mount.storage


@dataclass(frozen=True)
class Observed:
    """The comparable part of a live guest, from a GuestState or a raw config."""

    hostname: str
    cores: int
    memory: int
    swap: int
    rootfs_gib: int
    mounts: dict[int, MountSpec]
    tags: tuple[str, ...]
    running: bool
    owner: str | None
    net0: str
    settings: dict[str, Any]

    @property
    def bridge(self) -> str | None:
        """The bridge ``net0`` is attached to."""
        return config_property({"net0": self.net0}, "net0", default_key="name").get("bridge")

    @classmethod
    def from_state(cls, state: GuestState, bridge: str) -> Observed:
        """Mounts of a state are in ``mpN`` index order; ``net0`` is rebuilt from the MAC."""
        net0 = f"name=eth0,bridge={bridge},hwaddr={state.mac},ip=dhcp"
        settings = dict(state.settings)
        return cls(
            hostname=state.hostname,
            cores=state.cores,
            memory=state.memory,
            swap=state.swap,
            rootfs_gib=state.rootfs_gib,
            mounts=dict(enumerate(state.mounts)),
            tags=tuple(state.tags),
            running=state.status == "running",
            owner=state.owner,
            net0=net0,
            settings=settings,
        )

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, running: bool) -> Observed:
        """Read the fields from a ``GET …/config`` answer."""
        return cls(
            hostname=str(config.get("hostname", "")),
            cores=as_int(config.get("cores"), 1),
            memory=as_int(config.get("memory"), 512),
            swap=as_int(config.get("swap"), 512),
            rootfs_gib=round(volume_gib(config, "rootfs") or 0),
            mounts=mounts_from_config(config),
            tags=split_tags(config.get("tags")),
            running=running,
            owner=owner_of(config),
            net0=str(config.get("net0", "")),
            settings=settings_from_config(config),
        )


def mounts_from_config(config: Mapping[str, Any]) -> dict[int, MountSpec]:
    """``{index: MountSpec}`` for every ``mpN`` volume mount in a config."""
    out: dict[int, MountSpec] = {}
    for index, value in mount_keys(config):
        mount = Mount.parse(value)
        out[index] = MountSpec(
            storage=mount.storage or "unknown",
            size_gib=max(1, round((mount.size or 0) / GIB)),
            path=mount.mp or "/unknown",
        )
    return out


def state_from(
    vmid: int,
    node: str,
    config: Mapping[str, Any],
    *,
    status: str,
    ipv4: str | None,
    host_keys: dict[str, str],
    owner: str,
    public_keys: dict[str, str] | None = None,
    ssh_port: int = 22,
    pending: tuple[str, ...] = (),
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
        memory=obs.memory,
        swap=obs.swap,
        rootfs_gib=obs.rootfs_gib,
        mounts=tuple(obs.mounts[i] for i in sorted(obs.mounts)),
        host_keys=dict(sorted(host_keys.items())),
        archive=archive_of(config) or "",
        owner=obs.owner or owner,
        tags=tuple(sorted(t for t in obs.tags if t not in ours)),
        settings=obs.settings,
        host_public_keys=dict(sorted((public_keys or {}).items())),
        ssh_port=ssh_port,
        pending_restart=pending,
        rootfs_rebuilt_at=rebuilt_at_of(config),
    )
