"""Pure planning of an in-place update: the steps that bring a live guest to a new spec.

Shrinking, removing a mount or moving it to other storage loses data and is refused
(``ConfigError``); everything else is a config PUT, a resize or a reboot, each with the
reason the step log shows in ``pulumi up``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from felhom_provider.errors import ConfigError
from felhom_provider.pve.props import Net
from felhom_provider.reconcile.model import GuestSpec, GuestState
from felhom_provider.reconcile.observe import Observed
from felhom_provider.reconcile.plan import describe, desired_tags, mount_prop


@dataclass(frozen=True)
class UpdateStep:
    """One in-place change: a config PUT, a disk resize, or a reboot, with the reason."""

    kind: Literal["config", "resize", "reboot"]
    params: dict[str, Any] = field(default_factory=dict)
    reason: str = ""


_REBOOT_KEYS = ("cores", "memory", "swap", "hostname")


def _config_changes(obs: Observed, new: GuestSpec) -> dict[str, Any]:
    """The config keys that differ (everything but disks)."""
    config: dict[str, Any] = {}
    if obs.cores != new.cores:
        config["cores"] = new.cores
    if obs.memory_mib != new.memory_mib:
        config["memory"] = new.memory_mib
    if obs.swap_mib != new.swap_mib:
        config["swap"] = new.swap_mib
    if obs.hostname != new.hostname:
        config["hostname"] = new.hostname
    if set(obs.tags) != set(desired_tags(new)):
        config["tags"] = ";".join(desired_tags(new))
    if obs.owner != new.owner:
        # The resource was renamed (project/stack/name): move the marker with it.
        config["description"] = describe(new.owner, new.archive)
    if obs.bridge != new.bridge:
        # Keep the hwaddr: only the provision path resets the MAC (F1), never an update.
        config["net0"] = replace(Net.parse(obs.net0), bridge=new.bridge).format()
    return config


def _disk_changes(obs: Observed, new: GuestSpec, config: dict[str, Any]) -> list[UpdateStep]:
    """Resizes (only growing), and new mounts added to ``config``; refuses data loss."""
    resizes: list[UpdateStep] = []
    if new.rootfs_gib < obs.rootfs_gib:
        raise ConfigError("rootfsGiB", f"cannot shrink {obs.rootfs_gib} -> {new.rootfs_gib} GiB")
    if new.rootfs_gib > obs.rootfs_gib:
        resizes.append(
            UpdateStep(
                "resize",
                {"disk": "rootfs", "size": f"{new.rootfs_gib}G"},
                f"rootfs {obs.rootfs_gib} -> {new.rootfs_gib} GiB",
            )
        )
    by_path = {m.path: (i, m) for i, m in obs.mounts.items()}
    gone = sorted(set(by_path) - {m.path for m in new.mounts})
    if gone:
        raise ConfigError("mounts", f"removing mounts {gone} would delete their data")
    free = (i for i in range(1000) if i not in obs.mounts)
    for mount in new.mounts:
        if mount.path not in by_path:
            config[f"mp{next(free)}"] = mount_prop(mount)
            continue
        index, have = by_path[mount.path]
        if have.storage != mount.storage:
            raise ConfigError("mounts", f"{mount.path}: moving {have.storage} -> {mount.storage}")
        if mount.size_gib < have.size_gib:
            raise ConfigError(
                "mounts", f"{mount.path}: cannot shrink {have.size_gib} -> {mount.size_gib} GiB"
            )
        if mount.size_gib > have.size_gib:
            resizes.append(
                UpdateStep(
                    "resize",
                    {"disk": f"mp{index}", "size": f"{mount.size_gib}G"},
                    f"{mount.path} {have.size_gib} -> {mount.size_gib} GiB",
                )
            )
    return resizes


def plan_update(
    current: GuestState | Mapping[str, Any],
    new: GuestSpec,
    *,
    running: bool | None = None,
) -> list[UpdateStep]:
    """Steps that bring a live guest to ``new`` in place; empty when nothing changes.

    Order: one config PUT (cores, memory, swap, hostname, tags, new mounts), then resizes
    (absolute sizes, only when growing: PVE refuses equal or smaller sizes synchronously,
    design §4.7), then a reboot when the guest runs and a key that only takes full effect
    at start changed (the hostname reaches /etc/hostname in ``pre_start_hook``). Shrinking,
    removing a mount or moving it to other storage loses data and is refused (ConfigError).
    """
    if isinstance(current, GuestState):
        # A state does not record the bridge; assume unchanged unless a config is given.
        obs = Observed.from_state(current, new.bridge)
    else:
        obs = Observed.from_config(current, running=bool(running))
    if running is not None:
        obs = replace(obs, running=running)

    config = _config_changes(obs, new)
    resizes = _disk_changes(obs, new, config)
    steps: list[UpdateStep] = []
    if config:
        steps.append(UpdateStep("config", config, "set " + ", ".join(sorted(config))))
    steps += resizes
    changed = sorted(k for k in _REBOOT_KEYS if k in config)
    if obs.running and changed:
        steps.append(
            UpdateStep("reboot", {}, "running guest rebooted to apply " + ", ".join(changed))
        )
    return steps
