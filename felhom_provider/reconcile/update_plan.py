"""Pure planning of an in-place update: the steps that bring a live guest to a new spec.

Shrinking, removing a mount or moving it to other storage loses data and is refused
(``ConfigError``). Every other change is one config PUT (sent with the config's ``digest``
so a concurrent edit in the PVE UI is detected, not overwritten), resizes, a pool move, and
then, only when a running guest must restart for a change to reach it, a restart, or with
``restarts: deferred`` nothing but a note of what is pending.

What needs a restart follows pve-container's ``vmconfig_hotplug_pending``
(``src/PVE/LXC/Config.pm``): memory, swap, cpulimit, cpuunits, ``netN`` (``update_net``
re-plugs the veth and re-applies addresses; it does not touch the MTU) and new mount points
are hot-applied; cores, onboot, startup, protection, tags and description are fast-plug
writes. The hostname is fast-plug too, but ``/etc/hostname`` is written only by the start
hook, and nameserver/searchdomain stay pending until the next start.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from felhom_provider.errors import ConfigError
from felhom_provider.pve.props import config_property
from felhom_provider.reconcile.model import GuestSpec, GuestState
from felhom_provider.reconcile.netconf import boot_and_dns, net0_for, startup_value
from felhom_provider.reconcile.observe import Observed
from felhom_provider.reconcile.plan import describe, desired_tags, mount_prop


@dataclass(frozen=True)
class UpdateStep:
    """One in-place change: a config PUT, a disk resize, a pool move or a restart."""

    kind: Literal["config", "resize", "pool", "reboot"]
    params: dict[str, Any] = field(default_factory=dict)
    reason: str = ""


@dataclass(frozen=True)
class UpdatePlan:
    """The steps, and the fields whose change waits for the guest's next start."""

    steps: list[UpdateStep]
    pending: tuple[str, ...] = ()


#: Config key -> the field it comes from, for the keys that reach a running guest only at
#: its next start.
_AT_START = {"hostname": "hostname", "nameserver": "nameserver", "searchdomain": "searchdomain"}


def _config_changes(obs: Observed, new: GuestSpec) -> dict[str, Any]:
    """The config keys that differ (everything but disks and the pool)."""
    config: dict[str, Any] = {}
    core: tuple[tuple[str, object, object], ...] = (
        ("cores", obs.cores, new.cores),
        ("memory", obs.memory, new.memory),
        ("swap", obs.swap, new.swap),
        ("hostname", obs.hostname, new.hostname),
    )
    for key, was, wanted in core:
        if was != wanted:
            config[key] = wanted
    settings = obs.settings
    for key, want in boot_and_dns(new).items():
        have: Any = settings.get(key)
        if key == "onboot":
            have = int(bool(have))
        elif key == "startup":
            have = startup_value(settings.get("startup"))
        elif key == "nameserver":
            have = " ".join(have or ())
        if have != want:
            config[key] = want
    for key in ("nameserver", "searchdomain", "startup"):
        if settings.get(key) and key not in boot_and_dns(new):
            config.setdefault("delete", []).append(key)
    if bool(settings.get("protection")) != new.protection:
        config["protection"] = int(new.protection)
    if set(obs.tags) != set(desired_tags(new)):
        config["tags"] = ";".join(desired_tags(new))
    if obs.owner != new.owner:
        # The resource was renamed (project/stack/name): move the marker with it.
        config["description"] = describe(new.owner, new.archive)
    hwaddr = config_property({"net0": obs.net0}, "net0", default_key="name").get("hwaddr")
    want_net0 = net0_for(new, obs.net0, hwaddr=hwaddr)
    if config_property({"net0": want_net0}, "net0") != config_property({"net0": obs.net0}, "net0"):
        config["net0"] = want_net0
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


def _needs_start(obs: Observed, config: Mapping[str, Any]) -> list[str]:
    """The fields in ``config`` that reach a running guest only at its next start."""
    fields = [name for key, name in _AT_START.items() if key in config]
    fields += [k for k in config.get("delete", ()) if k in _AT_START]
    if "net0" in config:
        old = config_property({"net0": obs.net0}, "net0").get("mtu")
        if config_property({"net0": config["net0"]}, "net0").get("mtu") != old:
            fields.append("network.mtu")
    return sorted(set(fields))


def plan_update(
    current: GuestState | Mapping[str, Any],
    new: GuestSpec,
    *,
    running: bool | None = None,
    pending: tuple[str, ...] = (),
    current_pool: str | None = None,
) -> UpdatePlan:
    """Steps that bring a live guest to ``new`` in place; no steps when nothing changes.

    Order: one config PUT (with the config's ``digest`` when known), resizes (absolute
    sizes, only when growing: PVE refuses equal or smaller sizes synchronously), a pool move,
    then a restart of a running guest when a change reaches it only at start (or one still
    ``pending`` from a deferred update) unless ``new.restarts`` is ``deferred``: then the
    plan's ``pending`` names those fields and the guest keeps running.
    """
    if isinstance(current, GuestState):
        # A state does not record the bridge; assume unchanged unless a config is given.
        obs = Observed.from_state(current, new.bridge)
        digest = None
    else:
        obs = Observed.from_config(current, running=bool(running))
        digest = current.get("digest")
    if running is not None:
        obs = replace(obs, running=running)

    config = _config_changes(obs, new)
    resizes = _disk_changes(obs, new, config)
    steps: list[UpdateStep] = []
    if config:
        keys = sorted(k for k in config if k != "delete") + list(config.get("delete", ()))
        params = {k: v for k, v in config.items() if k != "delete"}
        if config.get("delete"):
            params["delete"] = ",".join(config["delete"])
        if digest:
            params["digest"] = digest
        steps.append(UpdateStep("config", params, "set " + ", ".join(keys)))
    steps += resizes
    if new.pool and new.pool != current_pool:
        steps.append(UpdateStep("pool", {"pool": new.pool}, f"move to pool {new.pool}"))
    waiting = sorted(set(_needs_start(obs, config)) | set(pending)) if obs.running else []
    if waiting and new.restarts == "deferred":
        return UpdatePlan(steps, tuple(waiting))
    if waiting:
        steps.append(
            UpdateStep(
                "reboot",
                {},
                "running guest restarted: " + ", ".join(waiting) + " reach it only at start",
            )
        )
    return UpdatePlan(steps)
