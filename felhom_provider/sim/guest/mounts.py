"""Mount point contents: what a guest writes under an ``mpN`` path lives on that mp's volume.

On PVE a mount point is a separate file system (an LV on ``local-lvm``) mounted into the
guest at ``mp=`` (pve-container ``PVE/LXC.pm`` ``mount_all``/``mountpoint_mount``). Files
written there land on the volume, not on the root file system: they move with the volume
(``move_volume`` to another CT), are freed with it (destroy, restore over the CT), and are
in a backup only when the mount point has ``backup=1`` (``VZDump/LXC.pm``). The rootfs'
own entries below the mount path are hidden while the volume is mounted and reappear when
it is gone; PVE creates the mount directory (``mkdirp``) in the rootfs.

The simulator keeps the guest's file system as one ``VirtualFS``; this module lays the
mounted volumes over it (:func:`attach`) before a guest operation and takes them back off
(:func:`detach`) afterwards, writing their contents to ``Volume.files`` as paths relative to
the volume root (``/`` is the volume's root directory). The rootfs content itself is the
CT's ``guest`` payload: in the API subset the simulator serves, a rootfs volume can never
leave its CT (``rootfs`` cannot be deleted or moved to another CT), so keeping its content
on the CT record is indistinguishable from keeping it on the volume.

Not imitated: mount options (``ro``, ``acl``, ``quota``), nested mounts with symlinks that
point across a mount boundary, ownership (only modes are modelled).
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from felhom_provider.sim import propstr
from felhom_provider.sim.guest.fs import DIR, Node, VirtualFS, node_in, node_out
from felhom_provider.sim.params import MP_FORMAT

if TYPE_CHECKING:
    from felhom_provider.sim.storage import StorageRegistry

_MP_KEY = re.compile(r"^mp\d+$")


@dataclass(frozen=True)
class Mount:
    """One volume mount point: the path in the guest and the volume id."""

    path: str
    volid: str


@dataclass
class Attached:
    """What :func:`attach` laid over a file system, to undo it in :func:`detach`."""

    mounts: list[Mount]
    shadow: dict[str, dict[str, Node]] = field(default_factory=dict)


def mount_table(conf: dict[str, str], *, backup_only: bool = False) -> list[Mount]:
    """The CT's volume mount points, parents first (``mount_all`` mounts in path order).

    Bind and device mount points (a path as volume) have no volume and are skipped;
    ``backup_only`` keeps those with ``backup=1`` (what vzdump includes).
    """
    found: list[Mount] = []
    for key, value in conf.items():
        if not _MP_KEY.match(key):
            continue
        parts = propstr.parse(value, MP_FORMAT)
        volume = str(parts.get("volume", ""))
        if not volume or volume.startswith("/") or "mp" not in parts:
            continue
        if backup_only and str(parts.get("backup", "0")) not in ("1", "true", "yes", "on"):
            continue
        found.append(Mount(posixpath.normpath("/" + str(parts["mp"]).lstrip("/")), volume))
    return sorted(found, key=lambda m: (m.path.count("/"), m.path))


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _take(fs: VirtualFS, root: str) -> dict[str, Node]:
    taken = {p: n for p, n in fs.nodes.items() if _under(p, root)}
    for p in taken:
        del fs.nodes[p]
    return taken


def attach(fs: VirtualFS, mounts: list[Mount], storage: StorageRegistry) -> Attached:
    """Mount each volume at its path: hide the rootfs' entries there, show the volume's."""
    done = Attached(mounts=[])
    for mount in mounts:
        vol = storage.get(mount.volid)
        if vol is None:
            continue  # PVE would fail the start; the simulator leaves the directory empty
        parent = posixpath.dirname(mount.path)
        if parent != "/" and not fs.is_dir(parent):
            fs.mkdir(parent, parents=True)  # mount_all's mkdirp of the mount directory
        done.shadow[mount.path] = _take(fs, mount.path)
        files = vol.files or {"/": [DIR, "", 0o755]}
        for rel, raw in files.items():
            fs.nodes[mount.path if rel == "/" else mount.path + rel] = node_in(raw)
        if mount.path not in fs.nodes:
            fs.nodes[mount.path] = Node(DIR, mode=0o755)
        done.mounts.append(mount)
    return done


def detach(fs: VirtualFS, attached: Attached, storage: StorageRegistry) -> None:
    """Unmount in reverse order: volume entries go to ``Volume.files``, the rootfs returns."""
    for mount in reversed(attached.mounts):
        taken = _take(fs, mount.path)
        files = {
            ("/" if p == mount.path else p[len(mount.path) :]): node_out(n)
            for p, n in sorted(taken.items())
        }
        storage.set_files(mount.volid, files)
        shadow = attached.shadow.get(mount.path, {})
        fs.nodes.update(shadow)
        if mount.path not in fs.nodes:
            fs.nodes[mount.path] = Node(DIR, mode=0o755)
