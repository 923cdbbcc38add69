"""Pure planning for rolling a new golden image onto an existing guest (issue 11).

Nothing here talks to PVE. From a guest's observed config and the new archive this module
works out the parameters of every PVE call the roll makes (``roll.py`` applies them), the
durable record the roll keeps in its *holder* CT, and the preview text:

* the **restore over** the guest (``restore=1, force=1``) carries every identity and option
  key the token may set: ``hostname``, every ``netN`` *with* its ``hwaddr`` (same MAC, so the
  same DHCP lease and IP), ``tags``, ``description`` (the ownership marker, the new archive
  and the rebuild time), ``onboot``/``startup``, sizes, DNS and console keys, ``protection``;
  ``rootfs`` is re-allocated at least as large as it had grown. ``mpN`` keys are never passed:
  the data volumes are handed over by ``move_volume`` (never copied or re-created);
* the **holder** is a stopped, protected CT restored from the new archive whose only job is
  to own the data volumes while the guest's root filesystem is replaced; its description is
  the roll's durable journal (the provider's memory does not survive a SIGKILL);
* keys a roll cannot carry (bind/device mounts, ``devN``, ``hookscript``, raw ``lxc.*``,
  ``unusedN`` volumes, snapshots) are refused up front: a restore over the CT would destroy
  or drop them (``Create.pm`` ``sanitize_and_merge_config``; ``LXC.pm``
  ``destroy_lxc_container`` frees ``unusedN`` volumes too).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from felhom_provider.errors import VerificationError
from felhom_provider.pve.props import (
    GIB,
    Mount,
    as_bool,
    config_mount,
    config_property,
    format_property_string,
    mount_keys,
)
from felhom_provider.reconcile.model import FELHOM_TAG, MountSpec, marker_for, owner_tag
from felhom_provider.reconcile.plan import ARCHIVE_PREFIX, archive_of

#: Description line recording when the guest's root filesystem was last rebuilt (ISO 8601).
REBUILT_PREFIX = "felhom-rootfs-rebuilt="
#: Suffix of the holder's owner marker: not the guest's owner, so adoption never takes it.
HOLDER_SUFFIX = "#roll-holder"
#: Tag every holder carries, so one ``GET …/lxc`` finds interrupted rolls.
HOLDER_TAG = "felhom-roll"
#: First line of the old root filesystem's vzdump notes (PVE lists the first line only).
BACKUP_NOTES_PREFIX = "felhom-roll-backup="
_RECORD_PREFIX = "felhom-roll-"

#: Plain options the token may set that a restore over the CT must carry (``Config.pm``
#: ``$confdesc``); others come from the new archive (``arch``, ``ostype``, ``features``).
CARRIED_OPTIONS = (
    "hostname",
    "tags",
    "description",
    "onboot",
    "startup",
    "cores",
    "memory",
    "swap",
    "cpulimit",
    "cpuunits",
    "nameserver",
    "searchdomain",
    "timezone",
    "cmode",
    "console",
    "tty",
    "protection",
)
_NET_RE = re.compile(r"^net\d+$")
# Keys a restore over the CT drops or destroys, or that only root may set again.
_REFUSED = {
    "hookscript": "a hookscript (root-only; a token restore cannot set it again)",
    "parent": "snapshots (a restore over the CT destroys them; move_volume refuses)",
}
_REFUSED_RE = (
    (re.compile(r"^dev\d+$"), "a device passthrough (root-only)"),
    (re.compile(r"^unused\d+$"), "an unused volume (a restore over the CT frees it)"),
    (re.compile(r"^lxc(\.|$)"), "raw lxc.* keys (a token restore drops them)"),
)


@dataclass(frozen=True)
class DataMount:
    """One ``mpN`` data volume: its key (kept on both CTs), volume id and mount path."""

    key: str
    volume: str
    path: str
    size_bytes: int | None

    def spec(self) -> MountSpec:
        """The ``MountSpec`` view (storage, GiB, path) used in outputs and previews."""
        gib = max(1, round((self.size_bytes or 0) / GIB))
        return MountSpec(self.volume.split(":", 1)[0], gib, self.path)


@dataclass(frozen=True)
class RollPlan:
    """What a roll of one guest does; every field is derived from the observed config."""

    vmid: int
    owner: str
    old_archive: str
    new_archive: str
    mounts: tuple[DataMount, ...]
    mac: str
    hostname: str
    rootfs_storage: str
    rootfs_gib: int
    protection: bool
    running: bool
    restore_overrides: dict[str, Any]

    @property
    def holder_owner(self) -> str:
        """The owner marker of this guest's holder CT."""
        return holder_owner(self.owner)


@dataclass(frozen=True)
class HolderRecord:
    """The roll's durable journal, kept in the holder CT's description.

    ``running``/``protected`` are the guest's state before the roll (restored by a
    roll-back); ``backup`` is the vzdump of the stopped old root filesystem once it exists;
    ``verified`` is set once the new root filesystem passed every check (the commit point).
    """

    owner: str
    guest: int
    old_archive: str
    new_archive: str
    running: bool
    protected: bool = False
    backup: str | None = None
    verified: bool = False

    def description(self) -> str:
        """The holder's description text (marker first, then one ``felhom-roll-*`` per line)."""
        lines = [
            marker_for(holder_owner(self.owner)),
            f"{_RECORD_PREFIX}guest={self.guest}",
            f"{_RECORD_PREFIX}from={self.old_archive}",
            f"{_RECORD_PREFIX}to={self.new_archive}",
            f"{_RECORD_PREFIX}running={int(self.running)}",
            f"{_RECORD_PREFIX}protected={int(self.protected)}",
        ]
        if self.backup:
            lines.append(f"{_RECORD_PREFIX}backup={self.backup}")
        if self.verified:
            lines.append(f"{_RECORD_PREFIX}verified=1")
        return "\n".join(lines) + "\n"

    @classmethod
    def parse(cls, owner: str, description: str) -> HolderRecord | None:
        """Read a holder description back; None when it is not ``owner``'s holder."""
        lines = [line.strip() for line in description.splitlines()]
        if marker_for(holder_owner(owner)) not in lines:
            return None
        fields = {}
        for line in lines:
            if line.startswith(_RECORD_PREFIX):
                key, _, value = line[len(_RECORD_PREFIX) :].partition("=")
                fields[key] = value
        try:
            guest = int(fields["guest"])
        except (KeyError, ValueError):
            return None
        return cls(
            owner=owner,
            guest=guest,
            old_archive=fields.get("from", ""),
            new_archive=fields.get("to", ""),
            running=fields.get("running") == "1",
            protected=fields.get("protected") == "1",
            backup=fields.get("backup") or None,
            verified=fields.get("verified") == "1",
        )


def holder_owner(owner: str) -> str:
    """The holder's owner marker: differs from the guest's, so ``adopt`` ignores holders."""
    return f"{owner}{HOLDER_SUFFIX}"


def backup_notes(owner: str, old_archive: str) -> str:
    """Notes of the old root filesystem's vzdump: one line (PVE lists only the first one,
    and owners and volids hold no spaces), so its first word finds it again."""
    return f"{BACKUP_NOTES_PREFIX}{owner} {ARCHIVE_PREFIX}{old_archive}"


def is_roll_backup(owner: str, notes: str | None) -> bool:
    """True when a backup's (first-line) notes mark it as ``owner``'s roll backup."""
    words = str(notes or "").split()
    return bool(words) and words[0] == f"{BACKUP_NOTES_PREFIX}{owner}"


def rebuilt_at_of(config: Mapping[str, Any]) -> str | None:
    """When the guest's root filesystem was last rebuilt by a roll (ISO 8601), or None."""
    for raw in str(config.get("description") or "").splitlines():
        line = raw.strip()
        if line.startswith(REBUILT_PREFIX):
            return line[len(REBUILT_PREFIX) :]
    return None


def roll_outputs(config: Mapping[str, Any]) -> dict[str, Any]:
    """The roll-out outputs of a guest: ``archive`` it runs on, ``rootfsRebuiltAt``."""
    return {"archive": archive_of(config) or "", "rootfsRebuiltAt": rebuilt_at_of(config)}


def new_description(old: str, archive: str, rebuilt_at: str) -> str:
    """``old`` with the archive line and the rebuild line replaced; every other line kept."""
    kept = [
        line
        for line in str(old or "").splitlines()
        if not line.strip().startswith((ARCHIVE_PREFIX, REBUILT_PREFIX))
    ]
    return "\n".join([*kept, f"{ARCHIVE_PREFIX}{archive}", f"{REBUILT_PREFIX}{rebuilt_at}"]) + "\n"


def refusals(config: Mapping[str, Any]) -> list[str]:
    """Why a roll cannot carry this config (empty when it can)."""
    problems = []
    for key in sorted(config):
        if key in _REFUSED:
            problems.append(f"{key}: {_REFUSED[key]}")
            continue
        for pattern, why in _REFUSED_RE:
            if pattern.match(key):
                problems.append(f"{key}: {why}")
    for index, value in mount_keys(config):
        if Mount.parse(value).volume.startswith("/"):
            problems.append(f"mp{index}: a bind or device mount cannot move to another CT")
    if config.get("lock"):
        problems.append(f"lock: the CT is locked ({config['lock']})")
    if as_bool(config.get("template")):
        problems.append("template: a template is not rolled")
    return problems


def data_mounts(config: Mapping[str, Any]) -> tuple[DataMount, ...]:
    """The ``mpN`` volumes of a config, in index order."""
    out = []
    for index, value in mount_keys(config):
        mount = Mount.parse(value)
        out.append(DataMount(f"mp{index}", mount.volume, mount.mp or "", mount.size))
    return tuple(out)


def identity_options(config: Mapping[str, Any]) -> dict[str, Any]:
    """Every carried option and ``netN`` of a config, verbatim (``hwaddr`` included)."""
    out: dict[str, Any] = {k: config[k] for k in CARRIED_OPTIONS if config.get(k) not in (None, "")}
    out.update({k: v for k, v in config.items() if _NET_RE.match(k)})
    return out


def rootfs_param(config: Mapping[str, Any], min_gib: int = 0) -> tuple[str, str, int]:
    """``(rootfs value, storage, GiB)`` re-allocating the rootfs at least as large as now.

    ``<storage>:<GiB>`` makes the restore allocate a fresh volume (advanced restore mode);
    the old mount options (``acl``, ``quota``, ``mountoptions``…) are kept.
    """
    mount = config_mount(config, "rootfs")
    if mount is None:
        raise VerificationError("the CT has no rootfs", step="plan-roll")
    size = math.ceil((mount.size or 0) / GIB)
    gib = max(size, min_gib, 1)
    value = format_property_string(
        {"volume": f"{mount.storage}:{gib}", **mount.options}, default_key="volume"
    )
    return value, mount.storage, gib


def plan_roll(
    config: Mapping[str, Any],
    *,
    vmid: int,
    owner: str,
    new_archive: str,
    running: bool,
    rebuilt_at: str,
    min_rootfs_gib: int = 0,
) -> RollPlan:
    """The roll of one guest from its observed ``config`` to ``new_archive``.

    Raises ``VerificationError`` naming every key the roll cannot carry.
    """
    problems = refusals(config)
    if problems:
        raise VerificationError(
            f"CT {vmid} cannot be rolled to a new golden image: " + "; ".join(problems),
            vmid=vmid,
            step="plan-roll",
        )
    rootfs, storage, gib = rootfs_param(config, min_rootfs_gib)
    overrides = identity_options(config)
    overrides.update(
        rootfs=rootfs,
        unprivileged=1,
        description=new_description(str(config.get("description") or ""), new_archive, rebuilt_at),
    )
    net0 = config_property(config, "net0", default_key="name")
    return RollPlan(
        vmid=vmid,
        owner=owner,
        old_archive=archive_of(config) or "",
        new_archive=new_archive,
        mounts=data_mounts(config),
        mac=net0.get("hwaddr", "").upper(),
        hostname=str(config.get("hostname", "")),
        rootfs_storage=storage,
        rootfs_gib=gib,
        protection=as_bool(config.get("protection")),
        running=running,
        restore_overrides=overrides,
    )


def rollback_overrides(backup_config: Mapping[str, Any]) -> dict[str, Any]:
    """The restore-over parameters that put the old root filesystem back from its vzdump.

    ``backup_config`` is the vzdump's pct.conf (``extractconfig``): the guest as it was when
    stopped, its data volumes already handed to the holder (so it lists no ``mpN``).
    """
    overrides = identity_options(backup_config)
    overrides.update(rootfs=rootfs_param(backup_config)[0], unprivileged=1)
    return overrides


def holder_overrides(
    record: HolderRecord, *, storage: str, archive_config: Mapping[str, Any], bridge: str
) -> dict[str, Any]:
    """The restore parameters of the holder CT: small, stopped, protected, link down.

    It is never started; ``net0`` has no ``hwaddr`` (a fresh MAC, never the golden's) and
    ``link_down=1``. ``protection=1`` makes PVE refuse to destroy it while it holds data.
    """
    mount = config_mount(archive_config, "rootfs")
    gib = max(1, math.ceil((mount.size or GIB) / GIB)) if mount else 8
    return {
        "hostname": f"roll-hold-{record.guest}",
        "net0": f"name=eth0,bridge={bridge},ip=dhcp,link_down=1",
        "rootfs": f"{storage}:{gib}",
        "cores": 1,
        "memory": 64,
        "swap": 0,
        "onboot": 0,
        "unprivileged": 1,
        "protection": 1,
        "tags": ";".join(sorted({FELHOM_TAG, HOLDER_TAG, owner_tag(holder_owner(record.owner))})),
        "description": record.description(),
    }


def mounts_match(before: Sequence[DataMount], after: Sequence[DataMount]) -> list[str]:
    """Differences between the data mounts before and after (keys, paths, sizes).

    Volume ids differ by design: ``move_volume`` renames a volume to its owner's VMID.
    """
    want = {m.key: (m.path, m.size_bytes) for m in before}
    got = {m.key: (m.path, m.size_bytes) for m in after}
    problems = [f"{k}: missing" for k in sorted(set(want) - set(got))]
    problems += [f"{k}: unexpected" for k in sorted(set(got) - set(want))]
    problems += [
        f"{k}: {got[k]} instead of {want[k]}"
        for k in sorted(set(want) & set(got))
        if got[k] != want[k]
    ]
    return problems


def preview_roll(
    old_archive: str,
    new_archive: str | None,
    mounts: Sequence[MountSpec],
    *,
    node_shell: bool,
) -> str:
    """What ``pulumi preview`` says about a guest whose golden archive changes.

    ``new_archive`` None means it is built in the same run (unknown at preview).
    """
    new = new_archive or "(the new golden archive, known after it is built in this run)"
    kept = ", ".join(f"{m.path} ({m.storage}, {m.size_gib} GiB)" for m in mounts) or "none"
    keys = (
        "SSH host keys carried over via the node shell"
        if node_shell
        else "no node shell configured: SSH host keys will CHANGE and the new ones are published"
    )
    return (
        f"update in place: root filesystem rebuilt from {new} (was {old_archive}); "
        f"data mounts kept, moved not copied: {kept}; VMID, MAC/IP, hostname, tags, "
        f"description, boot and network config kept; {keys}; the old root filesystem is "
        "kept until the new one is verified"
    )
