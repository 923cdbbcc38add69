"""Pure read-back check: every difference between a restored config and its spec."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from felhom_provider.pve.props import as_bool, config_mount, config_property
from felhom_provider.reconcile.model import GuestSpec, owner_of
from felhom_provider.reconcile.netconf import boot_and_dns, settings_from_config
from felhom_provider.reconcile.observe import Observed, volume_gib, volume_storage
from felhom_provider.reconcile.plan import missing_features


def _mount_problems(spec: GuestSpec, config: Mapping[str, Any], obs: Observed) -> list[str]:
    problems: list[str] = []
    for index, mount in enumerate(spec.mounts):
        key = f"mp{index}"
        have = config_mount(config, key)
        if have is None:
            problems.append(f"{key} ({mount.path}) missing")
            continue
        if have.mp != mount.path:
            problems.append(f"{key} path {have.mp!r} != {mount.path!r}")
        if volume_gib(config, key) != mount.size_gib:
            problems.append(f"{key} size {volume_gib(config, key)} != {mount.size_gib}")
        if have.storage != mount.storage:
            problems.append(f"{key} storage {have.storage!r} != {mount.storage!r}")
    extra = sorted(set(obs.mounts) - set(range(len(spec.mounts))))
    if extra:
        problems.append(f"unexpected mount points {[f'mp{i}' for i in extra]}")
    return problems


def _settings_problems(spec: GuestSpec, config: Mapping[str, Any]) -> list[str]:
    """Boot order, DNS and the declared network, as PVE stored them."""
    have = settings_from_config(config)
    problems = []
    network = {k: v for k, v in have["network"].items() if k != "mac" or "mac" in spec.network}
    if network != dict(spec.network):
        problems.append(f"network {network} != {dict(spec.network)}")
    for key, want in boot_and_dns(spec).items():
        got = config.get(key)
        if str(got if got is not None else "") != str(want) and not (
            key in ("cpulimit", "cpuunits") and have[key] == want
        ):
            problems.append(f"{key} {got!r} != {want!r}")
    return problems


def verify_readback(
    spec: GuestSpec, config: Mapping[str, Any], golden_mac: str | None
) -> list[str]:
    """Every difference between the restored config and the spec; empty means verified.

    The MAC must exist and differ from the golden's (F1), the hostname must be the spec's
    (F2), sizes and mounts as asked, the features carried through restore (design §2.6).
    """
    problems: list[str] = []
    net0 = config_property(config, "net0", default_key="name")
    mac = net0.get("hwaddr", "").upper()
    if not mac:
        problems.append("net0 has no hwaddr")
    elif golden_mac and mac == golden_mac.upper():
        problems.append(f"net0 kept the golden MAC {mac} (F1)")
    if net0.get("bridge") != spec.bridge:
        problems.append(f"net0 bridge {net0.get('bridge')!r} != {spec.bridge!r}")
    problems += _settings_problems(spec, config)
    if str(config.get("hostname", "")) != spec.hostname:
        problems.append(f"hostname {config.get('hostname')!r} != {spec.hostname!r} (F2)")
    obs = Observed.from_config(config, running=False)
    rootfs_gib = volume_gib(config, "rootfs")
    if rootfs_gib != spec.rootfs_gib:
        problems.append(f"rootfs size {rootfs_gib} GiB != {spec.rootfs_gib}")
    if volume_storage(config, "rootfs") != spec.rootfs_storage:
        have_storage = volume_storage(config, "rootfs")
        problems.append(f"rootfs storage {have_storage!r} != {spec.rootfs_storage!r}")
    problems += _mount_problems(spec, config, obs)
    for key, want, have_v in (
        ("cores", spec.cores, obs.cores),
        ("memory", spec.memory, obs.memory),
        ("swap", spec.swap, obs.swap),
    ):
        if have_v != want:
            problems.append(f"{key} {have_v} != {want}")
    problems += [
        f"features lost {item} (has {config.get('features')!r})"
        for item in missing_features(config)
    ]
    if not as_bool(config.get("unprivileged", 0)):
        problems.append("not unprivileged")
    if as_bool(config.get("template", 0)):
        problems.append("restored as a template")
    if owner_of(config) != spec.owner:
        problems.append(f"ownership marker {owner_of(config)!r} != {spec.owner!r}")
    if config.get("lock"):
        problems.append(f"config still locked ({config.get('lock')})")
    return problems
