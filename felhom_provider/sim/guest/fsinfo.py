"""``stat(2)`` of the simulated filesystem: what ``ls -l``, ``stat`` and ``df`` print.

The filesystem model keeps a kind, a mode and contents per path (``fs.py``); what ``lstat``
would add is derived here, the same way every time:

* owner and group are root (uid and gid 0): the product only writes as root, and an
  unprivileged CT's root is root inside;
* size: the byte length of a file's text, the target's length for a symlink, 4096 for a
  directory (one ext4 block); blocks are 512-byte units of whole 4 KiB blocks, as on ext4
  (a symlink shorter than 60 bytes lives in the inode and has none);
* links: 1 for files and symlinks, ``2 + subdirectories`` for a directory;
* inode: a stable number derived from the physical path (inode numbers are not modelled);
* times: every entry shows the template's build time (``TEMPLATE_TIME``): timestamps are not
  modelled, so a file written at run time does not show a newer time.
"""

from __future__ import annotations

import datetime
import math
import zlib
from dataclasses import dataclass

from felhom_provider.sim.guest.fs import DIR, FILE, LINK, FsError, VirtualFS

# The template's build date as its dpkg log records it (template._FILES, /var/log/dpkg.log).
TEMPLATE_TIME = datetime.datetime(2025, 10, 4, 12, 0, 0, tzinfo=datetime.UTC)
BLOCK = 4096
# The CT's rootfs as the guest sees it: an ext4 on a device-mapper volume (lvmthin).
ROOT_DEVICE = (252, 5)
_TYPE_CHAR = {FILE: "-", DIR: "d", LINK: "l"}
_TYPE_NAME = {FILE: "regular file", DIR: "directory", LINK: "symbolic link"}


@dataclass(frozen=True)
class Stat:
    """The fields of ``struct stat`` the guest's tools print."""

    path: str
    kind: str
    mode: int
    size: int
    nlink: int
    inode: int
    target: str = ""

    @property
    def blocks(self) -> int:
        """512-byte blocks allocated (``st_blocks``)."""
        if self.kind == LINK and self.size < 60:
            return 0  # ext4 fast symlink: the target is stored in the inode
        return math.ceil(self.size / BLOCK) * (BLOCK // 512)

    @property
    def mtime(self) -> datetime.datetime:
        """Modification (and access, change) time; see the module docstring."""
        return TEMPLATE_TIME

    @property
    def type_name(self) -> str:
        """``%F`` of stat(1): ``regular file``, ``directory``, ``symbolic link``; coreutils
        prints ``regular empty file`` for a file of size 0 (file_type() in stat.c)."""
        if self.kind == FILE and self.size == 0:
            return "regular empty file"
        return _TYPE_NAME[self.kind]


def mode_string(kind: str, mode: int) -> str:
    """``drwxr-xr-x`` as gnulib's ``filemodestring`` builds it (setuid/setgid/sticky too)."""
    chars = [_TYPE_CHAR[kind]]
    for shift, special, letter in ((6, 0o4000, "s"), (3, 0o2000, "s"), (0, 0o1000, "t")):
        bits = (mode >> shift) & 7
        chars.append("r" if bits & 4 else "-")
        chars.append("w" if bits & 2 else "-")
        execute = bool(bits & 1)
        if mode & special:
            chars.append(letter if execute else letter.upper())
        else:
            chars.append("x" if execute else "-")
    return "".join(chars)


def lstat(fs: VirtualFS, path: str, *, follow: bool = False) -> Stat:
    """Stat ``path`` (the link itself unless ``follow``); raises :class:`FsError` (ENOENT)."""
    if not path:
        raise FsError(path, "No such file or directory")  # the kernel's ENOENT for ""
    real = fs.resolve(path, follow_last=follow)
    node = fs.nodes.get(real)
    if node is None:
        raise FsError(path, "No such file or directory")
    if node.kind == DIR:
        subdirs = sum(1 for n in fs.listdir(real) if fs.nodes[_join(real, n)].kind == DIR)
        size, nlink = BLOCK, 2 + subdirs
    elif node.kind == LINK:
        size, nlink = len(node.data.encode()), 1
    else:
        size, nlink = len(fs.read(real).encode()), 1  # materialises a lazy host key
        node = fs.nodes[real]
    inode = 2 if real == "/" else 131072 + zlib.crc32(real.encode()) % 1048576
    return Stat(real, node.kind, node.mode & 0o7777, size, nlink, inode, node.data)


def _join(directory: str, name: str) -> str:
    return directory.rstrip("/") + "/" + name


def human_size(value: int) -> str:
    """``-h`` sizes of ls and df: powers of 1024, rounded up, one decimal below 10.

    gnulib ``human_readable`` with ``human_autoscale | human_SI | human_base_1024`` and
    ``human_ceiling``: 0 → ``0``, 4096 → ``4.0K``, 10241 → ``11K``, 8 GiB → ``8.0G``.
    """
    if value < 1024:
        return str(value)
    amount = float(value)
    for unit in "KMGTPE":
        amount /= 1024
        if amount < 10:
            tenths = math.ceil(amount * 10 - 1e-9) / 10
            if tenths < 10:
                return f"{tenths:.1f}{unit}"
            return f"10{unit}"
        if amount < 1024:
            whole = math.ceil(amount - 1e-9)
            if whole < 1024:
                return f"{whole}{unit}"
    return f"{math.ceil(amount)}E"
