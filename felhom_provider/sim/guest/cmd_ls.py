"""``ls`` and ``stat`` over the simulated filesystem, in GNU coreutils 9.7's formats.

``ls [-l] [-a|-A] [-1] [-d] [-h] [-R] [FILE…]``: output goes to a pipe under ``pct exec``, so
one name per line (ls.c: ``format = one_per_line`` when stdout is not a terminal) and names
are printed literally (quoting style ``literal`` off a terminal). The long format is ls.c's
``print_long_format``: mode string (no ACL column when no entry has an ACL), links
right-aligned, owner and group left-aligned, size right-aligned (``-h``: gnulib
``human_readable``, powers of 1024, rounded up), time as ``%b %e %H:%M`` for the last six
months and ``%b %e  %Y`` otherwise, then the name and `` -> target`` for a symlink; a
directory listing starts with ``total`` (1 KiB blocks). Names sort by code point (the guest's
locale is ``C.UTF-8``). Relative paths resolve against ``/``. A missing operand prints
``ls: cannot access 'X': No such file or directory`` and exits 2 (ls.c ``LS_FAILURE``).

``stat [-L] [-t] [-c FORMAT] FILE…``: stat.c's ``default_format`` and the ``%`` directives
listed in ``_directive``; ``cannot statx 'X': …`` exits 1. File metadata comes from
``fsinfo`` (owners root, times the template's build time, see there).
"""

from __future__ import annotations

import datetime
import posixpath
import re

from felhom_provider.sim.guest import fsinfo
from felhom_provider.sim.guest.fs import DIR, LINK, FsError, VirtualFS
from felhom_provider.sim.guest.model import GuestModel
from felhom_provider.sim.guest.registry import Result, Runner, not_imitated, usage_error

_LS_FLAGS = set("laA1dhR")
_LONG_FLAGS = {"--all": "a", "--almost-all": "A", "--directory": "d", "--recursive": "R"}
_SIX_MONTHS = datetime.timedelta(days=365.2425 / 2)


def ls(model: GuestModel, argv: list[str], stdin: str, run: Runner) -> Result:
    """``ls`` with the options of the module docstring; others are not imitated."""
    flags: set[str] = set()
    operands: list[str] = []
    for a in argv[1:]:
        if a in _LONG_FLAGS:
            flags.add(_LONG_FLAGS[a])
        elif a in ("--human-readable",):
            flags.add("h")
        elif a.startswith("-") and len(a) > 1 and set(a[1:]) <= _LS_FLAGS:
            flags |= set(a[1:])
        elif a.startswith("-") and a != "-":
            return not_imitated(" ".join(argv))
        else:
            operands.append(a)
    return _Lister(model.fs, flags).run(operands or ["."])


class _Lister:
    def __init__(self, fs: VirtualFS, flags: set[str]) -> None:
        self.fs = fs
        self.long = "l" in flags
        self.all = "a" in flags
        self.almost = "A" in flags
        self.dirs_as_files = "d" in flags
        self.human = "h" in flags
        self.recursive = "R" in flags and "d" not in flags
        self.now = datetime.datetime.now(datetime.UTC)

    def run(self, operands: list[str]) -> Result:
        out: list[str] = []
        err, code = "", 0
        files: list[tuple[str, fsinfo.Stat]] = []
        dirs: list[str] = []
        for op in operands:
            try:
                st = fsinfo.lstat(self.fs, op, follow=not self.long and not self.dirs_as_files)
            except FsError as exc:
                try:  # a dangling symlink is listed as itself (ls.c falls back to lstat)
                    st = fsinfo.lstat(self.fs, op)
                except FsError:
                    err, code = err + f"ls: cannot access '{op}': {exc.reason}\n", 2
                    continue
            if st.kind == DIR and not self.dirs_as_files:
                dirs.append(op)
            else:
                files.append((op, st))
        if files:
            out.extend(self._lines(sorted(files)))
        headers = self.recursive or len(operands) > 1
        for i, d in enumerate(sorted(dirs)):
            if out or i > 0:
                out.append("")
            self._directory(d, out, headers)
        # A missing operand among others still lists the rest, and exits 2 (LS_FAILURE).
        return Result(code, "".join(line + "\n" for line in out), err)

    def _directory(self, path: str, out: list[str], header: bool) -> None:
        if header:
            out.append(f"{path}:")
        names = self.fs.listdir(path)
        if not (self.all or self.almost):
            names = [n for n in names if not n.startswith(".")]
        entries = [(n, fsinfo.lstat(self.fs, posixpath.join(path, n))) for n in names]
        if self.all:
            entries = [
                (".", fsinfo.lstat(self.fs, path, follow=True)),
                ("..", fsinfo.lstat(self.fs, posixpath.join(path, ".."), follow=True)),
                *entries,
            ]
        if self.long:
            total = sum(st.blocks for _, st in entries) // 2
            out.append(f"total {fsinfo.human_size(total * 1024) if self.human else total}")
        out.extend(self._lines(entries))
        if self.recursive:
            for name, st in entries:
                if st.kind == DIR and name not in (".", ".."):
                    out.append("")
                    self._directory(posixpath.join(path, name), out, True)

    def _lines(self, entries: list[tuple[str, fsinfo.Stat]]) -> list[str]:
        if not self.long:
            return [name for name, _ in entries]
        sizes = [fsinfo.human_size(st.size) if self.human else str(st.size) for _, st in entries]
        w_links = max(len(str(st.nlink)) for _, st in entries)
        w_size = max(len(s) for s in sizes)
        lines = []
        for (name, st), size in zip(entries, sizes, strict=True):
            line = (
                f"{fsinfo.mode_string(st.kind, st.mode)} {st.nlink:>{w_links}} root root "
                f"{size:>{w_size}} {self._time(st.mtime)} {name}"
            )
            if st.kind == LINK:
                line += f" -> {st.target}"
            lines.append(line)
        return lines

    def _time(self, when: datetime.datetime) -> str:
        recent = self.now - _SIX_MONTHS < when <= self.now
        # ls.c long_time_format: "%b %e %H:%M" (recent) and "%b %e  %Y" (older or future).
        return when.strftime("%b %e %H:%M" if recent else "%b %e  %Y")


# stat.c default_format (coreutils 9.x: "Device: %Hd,%Ld", "Links: %h" for non-devices).
STAT_DEFAULT = (
    "  File: %N\n  Size: %-10s\tBlocks: %-10b IO Block: %-6o %F\n"
    "Device: %Hd,%Ld\tInode: %-10i  Links: %h\n"
    "Access: (%04a/%10.10A)  Uid: (%5u/%8U)   Gid: (%5g/%8G)\n"
    "Access: %x\nModify: %y\nChange: %z\n Birth: %w\n"
)
STAT_TERSE = "%n %s %b %f %u %g %D %i %h %t %T %X %Y %Z %W %o\n"
_DIRECTIVE = re.compile(r"%([-#0 +']*)(\d*)(?:\.(\d+))?([HL]?[a-zA-Z%])")


def stat(model: GuestModel, argv: list[str], stdin: str, run: Runner) -> Result:
    """``stat [-L] [-t] [-c FORMAT|--format=FORMAT] FILE…``."""
    args = argv[1:]
    follow, fmt = False, STAT_DEFAULT
    files: list[str] = []
    while args:
        a = args.pop(0)
        if a in ("-L", "--dereference"):
            follow = True
        elif a in ("-t", "--terse"):
            fmt = STAT_TERSE
        elif a in ("-c", "--format") and args:
            fmt = args.pop(0) + "\n"
        elif a.startswith("--format="):
            fmt = a.split("=", 1)[1] + "\n"
        elif a.startswith("-c") and len(a) > 2:
            fmt = a[2:] + "\n"
        elif a.startswith("-") and a != "-":
            return not_imitated(" ".join(argv))
        else:
            files.append(a)
    if not files:
        return usage_error("stat", "missing operand\nTry 'stat --help' for more information.")
    out, err, code = "", "", 0
    for f in files:
        try:
            st = fsinfo.lstat(model.fs, f, follow=follow)
        except FsError as exc:
            err, code = err + f"stat: cannot statx '{f}': {exc.reason}\n", 1
            continue
        out += format_stat(fmt, f, st)
    return Result(code, out, err)


def format_stat(fmt: str, name: str, st: fsinfo.Stat) -> str:
    """Expand stat(1)'s ``%`` directives of ``fmt`` for one file."""
    return _DIRECTIVE.sub(lambda m: _directive(m, name, st), fmt)


def _stamp(when: datetime.datetime) -> str:
    # stat.c human_time: "%Y-%m-%d %H:%M:%S.NNNNNNNNN %z"
    return when.strftime("%Y-%m-%d %H:%M:%S.000000000 %z")


def _directive(m: re.Match[str], name: str, st: fsinfo.Stat) -> str:
    flags, width, prec, letter = m.group(1), m.group(2), m.group(3), m.group(4)
    major, minor = fsinfo.ROOT_DEVICE
    epoch = str(int(st.mtime.timestamp()))
    octal = f"{st.mode:o}"
    values: dict[str, str] = {
        "%": "%",
        "a": ("0" + octal if "#" in flags and not octal.startswith("0") else octal),
        "A": fsinfo.mode_string(st.kind, st.mode),
        "b": str(st.blocks),
        "B": "512",
        "d": str(major << 8 | minor),
        "D": f"{major << 8 | minor:x}",
        "Hd": str(major),
        "Ld": str(minor),
        "Hr": "0",
        "Lr": "0",
        "t": "0",
        "T": "0",
        "f": f"{_raw_mode(st):x}",
        "F": st.type_name,
        "g": "0",
        "G": "root",
        "u": "0",
        "U": "root",
        "h": str(st.nlink),
        "i": str(st.inode),
        "m": "/",
        "n": name,
        "N": f"{name} -> {st.target}" if st.kind == LINK else name,
        "o": str(fsinfo.BLOCK),
        "s": str(st.size),
        "w": "-",
        "W": "0",
        "x": _stamp(st.mtime),
        "y": _stamp(st.mtime),
        "z": _stamp(st.mtime),
        "X": epoch,
        "Y": epoch,
        "Z": epoch,
    }
    value = values.get(letter)
    if value is None:
        return m.group(0)  # stat.c prints an unknown directive as given
    if prec:
        value = value[: int(prec)]
    if not width:
        return value
    if "-" in flags:
        return value.ljust(int(width))
    pad = "0" if "0" in flags and value.isdigit() else " "
    return value.rjust(int(width), pad)


def _raw_mode(st: fsinfo.Stat) -> int:
    kind_bits = {DIR: 0o040000, LINK: 0o120000}.get(st.kind, 0o100000)
    return kind_bits | st.mode
