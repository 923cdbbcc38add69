"""Pure planning for guest bring-up: observe -> **plan** -> apply.

Nothing here talks to PVE. Each function takes what was asked (a spec) and what was observed
(a config dict) and returns the parameters to apply, or the problems found. That keeps the
PVE-specific rules (design §2.3, seed F1/F2) testable from plain data. The in-place update
plan is in ``update_plan``, the read-back check in ``readback``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from felhom_provider.errors import VerificationError
from felhom_provider.pve.props import (
    Mount,
    as_bool,
    config_property,
    parse_features,
)
from felhom_provider.reconcile.model import (
    FELHOM_TAG,
    GuestSpec,
    MountSpec,
    marker_for,
    owner_tag,
)
from felhom_provider.reconcile.netconf import boot_and_dns, net0_for

#: Description line recording the archive a guest was restored from (read() reports it).
ARCHIVE_PREFIX = "felhom-archive="
#: Features the golden archive must carry so Docker runs in an unprivileged guest (F5).
REQUIRED_FEATURES = {"nesting": "1", "keyctl": "1"}


@dataclass(frozen=True)
class ArchiveFacts:
    """What the archive's embedded pct.conf says (design §2.7)."""

    mac: str | None
    hostname: str | None
    features: str
    unprivileged: bool
    problems: tuple[str, ...]


def missing_features(cfg: Mapping[str, Any]) -> list[str]:
    """The ``key=value`` items of ``REQUIRED_FEATURES`` a config's ``features`` lacks."""
    feats = parse_features(str(cfg.get("features") or ""))
    return [f"{k}={want}" for k, want in REQUIRED_FEATURES.items() if feats.get(k) != want]


def check_archive_config(cfg: Mapping[str, Any]) -> ArchiveFacts:
    """Check an archive's config (from extractconfig): features, unprivileged, no template.

    ``template: 1`` would turn every restore into a template (``LXC.pm``: ``$was_template``),
    so it is a problem, as is any ``netN`` besides ``net0``: restore copies keys the call does
    not set, so a second NIC would come back with the golden's MAC on every guest (F1).
    """
    problems = [
        f"features lacks {item} (has {cfg.get('features')!r})" for item in missing_features(cfg)
    ]
    if not as_bool(cfg.get("unprivileged", 0)):
        problems.append("archive is not unprivileged: 1")
    if as_bool(cfg.get("template", 0)):
        problems.append("archive carries template: 1 (every restore would become a template)")
    extra_nics = sorted(k for k in cfg if k.startswith("net") and k != "net0")
    if extra_nics:
        problems.append(f"archive has extra NICs {extra_nics} that would keep the golden MAC")
    if any(str(k).startswith("lxc.") for k in cfg):
        problems.append("archive has raw lxc.* keys; a token restore drops them")
    net0 = config_property(cfg, "net0", default_key="name")
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


def mount_prop(mount: MountSpec) -> str:
    """``<storage>:<GiB>,mp=<path>``: PVE allocates a new volume of that size."""
    return Mount.new(mount.storage, mount.size_gib, mount.path).format()


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
    """The parameters of the ONE restore call (design §2.3).

    Every identity and size override goes into the restore: ``net0`` without ``hwaddr`` (PVE
    fills a fresh ``BC:24:11:…``), ``hostname``, ``rootfs=<storage>:<GiB>`` (advanced restore
    mode allocates the disk at that size and ignores the archive's mount points), ``mpN``,
    ``cores``/``memory``/``swap``, boot order (``onboot`` would otherwise be copied from the
    golden build CT: 0), DNS, the pool, tags and the ownership marker. Never ``unique=1`` (it would
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
        "net0": net0_for(spec, golden_cfg.get("net0"), hwaddr=None),
        "rootfs": f"{spec.rootfs_storage}:{spec.rootfs_gib}",
        "cores": spec.cores,
        "memory": spec.memory,
        "swap": spec.swap,
        "unprivileged": 1,
        **boot_and_dns(spec),
        "tags": ";".join(desired_tags(spec)),
        "description": describe(spec.owner, spec.archive),
    }
    if spec.pool:
        params["pool"] = spec.pool
    for index, mount in enumerate(spec.mounts):
        params[f"mp{index}"] = mount_prop(mount)
    return params
