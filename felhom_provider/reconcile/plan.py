"""Pure planning for guest bring-up: observe -> **plan** -> apply.

Nothing here talks to PVE. Each function takes what was asked (a spec) and what was observed
(a config dict, a state) and returns the parameters or steps to apply, or the problems found.
That keeps the PVE-specific rules (DESIGN §2.3, seed F1/F2) testable from plain data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from felhom_provider.errors import ConfigError, VerificationError
from felhom_provider.reconcile.model import (
    FELHOM_TAG,
    GuestSpec,
    GuestState,
    MountSpec,
    marker_for,
    owner_tag,
)
from felhom_provider.reconcile.props import (
    as_bool,
    as_int,
    format_property_string,
    mount_keys,
    owner_of,
    parse_features,
    parse_property_string,
    split_tags,
    volume_size_gib,
    volume_storage,
)

#: Description line recording the archive a guest was restored from (read() reports it).
ARCHIVE_PREFIX = "felhom-archive="
#: Features the golden archive must carry so Docker runs in an unprivileged guest (F5).
REQUIRED_FEATURES = {"nesting": "1", "keyctl": "1"}


@dataclass(frozen=True)
class ArchiveFacts:
    """What the archive's embedded pct.conf says (DESIGN §2.7)."""

    mac: str | None
    hostname: str | None
    features: str
    unprivileged: bool
    problems: tuple[str, ...]


def check_archive_config(cfg: Mapping[str, Any]) -> ArchiveFacts:
    """Check an archive's config (from extractconfig): features, unprivileged, no template.

    ``template: 1`` would turn every restore into a template (``LXC.pm``: ``$was_template``),
    so it is a problem, as is any ``netN`` besides ``net0``: restore copies keys the call does
    not set, so a second NIC would come back with the golden's MAC on every guest (F1).
    """
    problems = []
    feats = parse_features(cfg.get("features"))
    for key, want in REQUIRED_FEATURES.items():
        if feats.get(key) != want:
            problems.append(f"features lacks {key}={want} (has {cfg.get('features')!r})")
    if not as_bool(cfg.get("unprivileged", 0)):
        problems.append("archive is not unprivileged: 1")
    if as_bool(cfg.get("template", 0)):
        problems.append("archive carries template: 1 (every restore would become a template)")
    extra_nics = sorted(k for k in cfg if k.startswith("net") and k != "net0")
    if extra_nics:
        problems.append(f"archive has extra NICs {extra_nics} that would keep the golden MAC")
    if any(str(k).startswith("lxc.") for k in cfg):
        problems.append("archive has raw lxc.* keys; a token restore drops them")
    net0 = parse_property_string(str(cfg.get("net0", "")), "name")
    hostname = cfg.get("hostname")
    return ArchiveFacts(
        mac=net0.get("hwaddr", "").upper() or None,
        hostname=str(hostname) if hostname else None,
        features=str(cfg.get("features", "")),
        unprivileged=as_bool(cfg.get("unprivileged", 0)),
        problems=tuple(problems),
    )


def desired_tags(spec: GuestSpec) -> tuple[str, ...]:
    """Tags the guest carries: ours, the owner hash, then the spec's own (sorted, unique)."""
    return tuple(sorted({FELHOM_TAG, owner_tag(spec.owner), *spec.tags}))


def net0_for(spec: GuestSpec, golden_net0: str | None) -> str:
    """``net0`` for the restore: the golden's options minus ``hwaddr`` (fresh MAC, F1)."""
    props = parse_property_string(golden_net0 or "", "name")
    props.pop("hwaddr", None)
    props.pop("name", None)
    merged = {"name": "eth0", "bridge": spec.bridge}
    merged.update({k: v for k, v in props.items() if k not in ("bridge",)})
    merged.setdefault("ip", "dhcp")
    return format_property_string(merged)


def mount_prop(mount: MountSpec) -> str:
    """``<storage>:<GiB>,mp=<path>``: PVE allocates a new volume of that size."""
    return f"{mount.storage}:{mount.size_gib},mp={mount.path}"


def describe(owner: str, archive: str) -> str:
    """The guest description: the ownership marker, then the archive it came from."""
    return f"{marker_for(owner)}\n{ARCHIVE_PREFIX}{archive}\n"


def archive_of(config: Mapping[str, Any]) -> str | None:
    """The archive named in a guest's description, or None."""
    for raw in str(config.get("description") or "").splitlines():
        line = raw.strip()
        if line.startswith(ARCHIVE_PREFIX):
            return line[len(ARCHIVE_PREFIX) :]
    return None


def plan_restore(spec: GuestSpec, vmid: int, golden_cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters of the ONE restore call (DESIGN §2.3).

    Every identity and size override goes into the restore: ``net0`` without ``hwaddr`` (PVE
    fills a fresh ``BC:24:11:…``), ``hostname``, ``rootfs=<storage>:<GiB>`` (advanced restore
    mode allocates the disk at that size and ignores the archive's mount points), ``mpN``,
    ``cores``/``memory``/``swap``, tags and the ownership marker. Never ``unique=1`` (it would
    discard the passed ``net0``, ``Create.pm`` ``sanitize_and_merge_config``) and never
    ``start=1`` (its ``vzstart`` UPID is lost).
    """
    facts = check_archive_config(golden_cfg)
    if facts.problems:
        raise VerificationError(
            f"archive {spec.archive} is unfit: " + "; ".join(facts.problems),
            guest=spec.name,
            step="verify-archive",
        )
    params: dict[str, Any] = {
        "vmid": vmid,
        "ostemplate": spec.archive,
        "restore": 1,
        "hostname": spec.hostname,
        "net0": net0_for(spec, golden_cfg.get("net0")),
        "rootfs": f"{spec.rootfs_storage}:{spec.rootfs_gib}",
        "cores": spec.cores,
        "memory": spec.memory_mib,
        "swap": spec.swap_mib,
        "unprivileged": 1,
        "tags": ";".join(desired_tags(spec)),
        "description": describe(spec.owner, spec.archive),
    }
    for index, mount in enumerate(spec.mounts):
        params[f"mp{index}"] = mount_prop(mount)
    return params


@dataclass(frozen=True)
class Observed:
    """The comparable part of a live guest, from a GuestState or a raw config."""

    hostname: str
    cores: int
    memory_mib: int
    swap_mib: int
    rootfs_gib: int
    mounts: dict[int, MountSpec]
    tags: tuple[str, ...]
    running: bool
    owner: str | None
    net0: str

    @property
    def bridge(self) -> str | None:
        """The bridge ``net0`` is attached to."""
        return parse_property_string(self.net0, "name").get("bridge")

    @classmethod
    def from_state(cls, state: GuestState, bridge: str) -> Observed:
        """Mounts of a state are in ``mpN`` index order; ``net0`` is rebuilt from the MAC."""
        net0 = f"name=eth0,bridge={bridge},hwaddr={state.mac},ip=dhcp"
        return cls(
            hostname=state.hostname,
            cores=state.cores,
            memory_mib=state.memory_mib,
            swap_mib=state.swap_mib,
            rootfs_gib=state.rootfs_gib,
            mounts=dict(enumerate(state.mounts)),
            tags=tuple(state.tags),
            running=state.status == "running",
            owner=state.owner,
            net0=net0,
        )

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, running: bool) -> Observed:
        """Read the fields from a ``GET …/config`` answer."""
        return cls(
            hostname=str(config.get("hostname", "")),
            cores=as_int(config.get("cores"), 1),
            memory_mib=as_int(config.get("memory"), 512),
            swap_mib=as_int(config.get("swap"), 512),
            rootfs_gib=round(volume_size_gib(str(config.get("rootfs", ""))) or 0),
            mounts=mounts_from_config(config),
            tags=split_tags(config.get("tags")),
            running=running,
            owner=owner_of(config),
            net0=str(config.get("net0", "")),
        )


def mounts_from_config(config: Mapping[str, Any]) -> dict[int, MountSpec]:
    """``{index: MountSpec}`` for every ``mpN`` volume mount in a config."""
    out: dict[int, MountSpec] = {}
    for index, value in mount_keys(config):
        props = parse_property_string(value, "volume")
        size = volume_size_gib(value)
        out[index] = MountSpec(
            storage=volume_storage(value) or "unknown",
            size_gib=max(1, round(size or 0)),
            path=props.get("mp", "/unknown"),
        )
    return out


@dataclass(frozen=True)
class UpdateStep:
    """One in-place change: a config PUT, a disk resize, or a reboot, with the reason."""

    kind: Literal["config", "resize", "reboot"]
    params: dict[str, Any] = field(default_factory=dict)
    reason: str = ""


_REBOOT_KEYS = ("cores", "memory", "swap", "hostname")


def plan_update(
    current: GuestState | Mapping[str, Any],
    new: GuestSpec,
    *,
    running: bool | None = None,
) -> list[UpdateStep]:
    """Steps that bring a live guest to ``new`` in place; empty when nothing changes.

    Order: one config PUT (cores, memory, swap, hostname, tags, new mounts), then resizes
    (absolute sizes, only when growing: PVE refuses equal or smaller sizes synchronously,
    pve-behaviour §3), then a reboot when the guest runs and a key that only takes full effect
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
        net0 = parse_property_string(obs.net0, "name")
        net0["bridge"] = new.bridge
        config["net0"] = format_property_string(net0)

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
    wanted = {m.path for m in new.mounts}
    gone = sorted(set(by_path) - wanted)
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


def verify_readback(
    spec: GuestSpec, config: Mapping[str, Any], golden_mac: str | None
) -> list[str]:
    """Every difference between the restored config and the spec; empty means verified.

    The MAC must exist and differ from the golden's (F1), the hostname must be the spec's
    (F2), sizes and mounts as asked, the features carried through restore (DESIGN §2.6).
    """
    problems: list[str] = []
    net0 = parse_property_string(str(config.get("net0", "")), "name")
    mac = net0.get("hwaddr", "").upper()
    if not mac:
        problems.append("net0 has no hwaddr")
    elif golden_mac and mac == golden_mac.upper():
        problems.append(f"net0 kept the golden MAC {mac} (F1)")
    if net0.get("bridge") != spec.bridge:
        problems.append(f"net0 bridge {net0.get('bridge')!r} != {spec.bridge!r}")
    if str(config.get("hostname", "")) != spec.hostname:
        problems.append(f"hostname {config.get('hostname')!r} != {spec.hostname!r} (F2)")
    obs = Observed.from_config(config, running=False)
    rootfs = str(config.get("rootfs", ""))
    if volume_size_gib(rootfs) != spec.rootfs_gib:
        problems.append(f"rootfs size {volume_size_gib(rootfs)} GiB != {spec.rootfs_gib}")
    if volume_storage(rootfs) != spec.rootfs_storage:
        problems.append(f"rootfs storage {volume_storage(rootfs)!r} != {spec.rootfs_storage!r}")
    for index, mount in enumerate(spec.mounts):
        have = config.get(f"mp{index}")
        if have is None:
            problems.append(f"mp{index} ({mount.path}) missing")
            continue
        props = parse_property_string(str(have), "volume")
        if props.get("mp") != mount.path:
            problems.append(f"mp{index} path {props.get('mp')!r} != {mount.path!r}")
        if volume_size_gib(str(have)) != mount.size_gib:
            problems.append(f"mp{index} size {volume_size_gib(str(have))} != {mount.size_gib}")
        if volume_storage(str(have)) != mount.storage:
            problems.append(f"mp{index} storage {volume_storage(str(have))!r} != {mount.storage!r}")
    extra = sorted(set(obs.mounts) - set(range(len(spec.mounts))))
    if extra:
        problems.append(f"unexpected mount points {[f'mp{i}' for i in extra]}")
    for key, want, have_v in (
        ("cores", spec.cores, obs.cores),
        ("memory", spec.memory_mib, obs.memory_mib),
        ("swap", spec.swap_mib, obs.swap_mib),
    ):
        if have_v != want:
            problems.append(f"{key} {have_v} != {want}")
    feats = parse_features(config.get("features"))
    for key, want_f in REQUIRED_FEATURES.items():
        if feats.get(key) != want_f:
            problems.append(f"features lost {key}={want_f} (has {config.get('features')!r})")
    if not as_bool(config.get("unprivileged", 0)):
        problems.append("not unprivileged")
    if as_bool(config.get("template", 0)):
        problems.append("restored as a template")
    if owner_of(config) != spec.owner:
        problems.append(f"ownership marker {owner_of(config)!r} != {spec.owner!r}")
    if config.get("lock"):
        problems.append(f"config still locked ({config.get('lock')})")
    return problems
