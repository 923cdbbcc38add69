"""``df [-h] [-T] [-k] [FILE…]`` (GNU coreutils 9.7) over the CT's volumes.

The guest's file systems are its rootfs and ``mpN`` volumes (``CtFacts.disks``/``volumes``
from the CT config) plus LXC's ``/dev`` (a ``tmpfs`` of 500000 bytes, 492K in pages). The
device is named after the volume as the node exposes it: an LVM-thin volume
``vm-101-disk-0`` is ``/dev/mapper/pve-vm--101--disk--0`` (volume group ``pve``, the PVE
installer's), a ZFS ``subvol-101-disk-0`` is ``rpool/data/subvol-101-disk-0``, an image on a
directory storage is a loop device. Sizes follow ext4 on the volume: 2.5 % of it goes to
metadata and the journal, 5 % of the rest is reserved for root (mke2fs defaults), so
``Avail`` is ``Size - Used - reserved``. ``Used`` counts the files the model holds (4 KiB
blocks), which is far less than a real guest's packages take. The tmpfs mounts whose sizes
depend on the host's RAM (``/dev/shm``, ``/run``, ``/run/lock``) are not listed.

Layout (df.c ``get_header``/``print_table``): columns ``Filesystem`` (at least 14 wide),
``Type``, ``1K-blocks``/``Size``, ``Used``, ``Available``/``Avail``, ``Use%`` (rounded up),
``Mounted on``; text left-aligned, numbers right-aligned, one space between, the last column
unpadded. A missing operand prints ``df: X: No such file or directory`` and exits 1.
"""

from __future__ import annotations

import math
import posixpath
from dataclasses import dataclass

from felhom_provider.sim.guest import fsinfo
from felhom_provider.sim.guest.fs import DIR
from felhom_provider.sim.guest.model import GuestModel
from felhom_provider.sim.guest.registry import Result, Runner, not_imitated

_DEV_BYTES = 503808  # LXC mounts /dev as tmpfs size=500000, rounded up to 4 KiB pages


@dataclass(frozen=True)
class Mount:
    """One mounted file system, sizes in bytes."""

    source: str
    fstype: str
    target: str
    size: int
    used: int
    avail: int


def _source(volume: str) -> tuple[str, str]:
    name = volume.split(":", 1)[-1]
    base = posixpath.basename(name)
    if base.startswith("subvol-"):
        return f"rpool/data/{base}", "zfs"
    if "/" in name or base.endswith((".raw", ".qcow2")):
        return "/dev/loop0", "ext4"
    return "/dev/mapper/pve-" + base.replace("-", "--"), "ext4"


def _used(model: GuestModel, target: str, others: list[str]) -> int:
    total = 0
    prefix = target.rstrip("/") + "/"
    for path in model.fs.walk(target):
        if any(path == o or path.startswith(o.rstrip("/") + "/") for o in others):
            continue  # belongs to another mount below this one
        if path != target and not path.startswith(prefix):
            continue
        node = model.fs.nodes[path]
        size = fsinfo.BLOCK if node.kind == DIR else len(node.data.encode())
        total += math.ceil(size / fsinfo.BLOCK) * fsinfo.BLOCK
    return total


def mounts(model: GuestModel) -> list[Mount]:
    """The guest's file systems in mount order (rootfs, /dev, then the mount points)."""
    rt = model.runtime
    facts = rt.facts if rt is not None else None
    disks = dict(facts.disks) if facts is not None else {}
    volumes = dict(facts.volumes) if facts is not None else {}
    found: list[Mount] = []
    for target in sorted(disks, key=lambda t: (t != "/", t)):
        source, fstype = _source(volumes.get(target, f"vm-{facts.vmid if facts else 0}-disk-0"))
        size = disks[target] * 975 // 1000 // fsinfo.BLOCK * fsinfo.BLOCK
        others = [t for t in disks if t != target and t.startswith(target.rstrip("/") + "/")]
        used = min(_used(model, target, others) if model.fs.is_dir(target) else 0, size)
        reserved = size // 20 if fstype == "ext4" else 0
        found.append(Mount(source, fstype, target, size, used, max(size - used - reserved, 0)))
        if target == "/":
            # LXC's /dev holds device nodes and a few directories: one page in use.
            dev_used = fsinfo.BLOCK
            found.append(
                Mount("none", "tmpfs", "/dev", _DEV_BYTES, dev_used, _DEV_BYTES - dev_used)
            )
    return found


def df(model: GuestModel, argv: list[str], stdin: str, run: Runner) -> Result:
    """``df`` with ``-h``, ``-T``, ``-k`` and FILE operands."""
    flags: set[str] = set()
    files: list[str] = []
    for a in argv[1:]:
        if a.startswith("-") and len(a) > 1 and set(a[1:]) <= set("hTk"):
            flags |= set(a[1:])
        elif a in ("--human-readable", "--print-type"):
            flags.add("h" if a == "--human-readable" else "T")
        elif a.startswith("-"):
            return not_imitated(" ".join(argv))
        else:
            files.append(a)
    table = mounts(model)
    err, code = "", 0
    if files:
        chosen: list[Mount] = []
        for f in files:
            mounted = any(posixpath.normpath(f) == m.target for m in table)
            if not mounted and not model.fs.exists(f):
                err, code = err + f"df: {f}: No such file or directory\n", 1
                continue
            real = posixpath.normpath(f) if mounted else model.fs.resolve(f)
            best = max(
                (
                    m
                    for m in table
                    if real == m.target or real.startswith(m.target.rstrip("/") + "/")
                ),
                key=lambda m: len(m.target),
            )
            chosen.append(best)
        table = chosen
    human = "h" in flags
    header = ["Filesystem", "Type", "Size" if human else "1K-blocks", "Used",
              "Avail" if human else "Available", "Use%", "Mounted on"]  # fmt: skip
    rows = [header] + [_cells(m, human) for m in table]
    if "T" not in flags:
        rows = [r[:1] + r[2:] for r in rows]
    minimum = [14, 4, 5, 5, 5, 4, 0] if "T" in flags else [14, 5, 5, 5, 4, 0]
    right = [False, False, True, True, True, True, False]
    if "T" not in flags:
        right = right[:1] + right[2:]
    widths = [max([minimum[i]] + [len(r[i]) for r in rows]) for i in range(len(rows[0]) - 1)]
    out = ""
    for r in rows if table or not files else []:
        cells = [
            (r[i].rjust(widths[i]) if right[i] else r[i].ljust(widths[i]))
            for i in range(len(widths))
        ]
        out += " ".join([*cells, r[-1]]) + "\n"
    return Result(code, out, err)


def _cells(m: Mount, human: bool) -> list[str]:
    def amount(value: int) -> str:
        return fsinfo.human_size(value) if human else str(math.ceil(value / 1024))

    pcent = "-" if m.size == 0 else f"{math.ceil(m.used * 100 / max(m.used + m.avail, 1))}%"
    return [m.source, m.fstype, amount(m.size), amount(m.used), amount(m.avail), pcent, m.target]
