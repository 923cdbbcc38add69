"""``ps`` (procps-ng 4.0.4) over the processes of ``procs.py``.

Selections: ``ps`` (no option: processes without a terminal of the caller's user, i.e. all
here), ``ax``/``aux`` (BSD), ``-e``/``-A``, ``-f``, ``-p PID[,PID…]``, ``-C NAME[,NAME…]``,
``-o FIELD[=HEADER][,…]`` (repeatable), ``--no-headers``; ``ww``/``-w`` are accepted.
Column headers, widths and alignment are procps-ng's ``output.c`` ``format_array``: PID and
PPID 7 wide (the digits of ``pid_max`` 4194304), ``USER`` 8 left, ``%CPU``/``%MEM`` 4,
``VSZ`` 6, ``RSS`` 5, ``TTY`` 8 left (``TT`` in ``-o``), ``STAT`` 4 left, ``START``/``STIME``
5 (``%H:%M`` today, ``%b%d`` this year, else the year: ``pr_start``), ``TIME`` 6 as ``M:SS``
in BSD formats and 8 as ``HH:MM:SS`` otherwise, ``ELAPSED`` 11, the last column unpadded.
A value wider than its column pushes the rest of the line right. Selecting nothing with
``-p``/``-C`` prints the header only and exits 1. Sorting, forests (``f``), threads (``-L``)
and other fields are not imitated.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass

from felhom_provider.sim.guest import procs
from felhom_provider.sim.guest.model import GuestModel
from felhom_provider.sim.guest.registry import Result, Runner, not_imitated, usage_error


@dataclass(frozen=True)
class _Ctx:
    now: datetime.datetime
    boot: datetime.datetime
    memory_kib: int


Getter = Callable[[procs.Process, _Ctx], str]


def _start(p: procs.Process, ctx: _Ctx) -> str:
    when = ctx.now if p.stat.startswith("R") else ctx.boot
    if when.year != ctx.now.year:
        return when.strftime("%Y")
    if when.timetuple().tm_yday != ctx.now.timetuple().tm_yday:
        return when.strftime("%b%d")
    return when.strftime("%H:%M")


def _elapsed(p: procs.Process, ctx: _Ctx) -> str:
    seconds = 0 if p.stat.startswith("R") else int((ctx.now - ctx.boot).total_seconds())
    days, rest = divmod(max(seconds, 0), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{minutes:02d}:{secs:02d}"
    if hours or days:
        text = f"{hours:02d}:{text}"
    return f"{days}-{text}" if days else text


def _pmem(p: procs.Process, ctx: _Ctx) -> str:
    per_mille = p.rss * 1000 // max(ctx.memory_kib, 1)
    return f"{per_mille // 10}.{per_mille % 10}"


# name → (header, width, right-aligned, value); output.c format_array.
FIELDS: dict[str, tuple[str, int, bool, Getter]] = {
    "pid": ("PID", 7, True, lambda p, c: str(p.pid)),
    "ppid": ("PPID", 7, True, lambda p, c: str(p.ppid)),
    "user": ("USER", 8, False, lambda p, c: "root"),
    "uid": ("UID", 5, True, lambda p, c: "0"),
    "comm": ("COMMAND", 15, False, lambda p, c: p.comm),
    "args": ("COMMAND", 27, False, lambda p, c: p.args),
    "command": ("COMMAND", 27, False, lambda p, c: p.args),
    "cmd": ("CMD", 27, False, lambda p, c: p.args),
    "stat": ("STAT", 4, False, lambda p, c: p.stat),
    "%cpu": ("%CPU", 4, True, lambda p, c: "0.0"),
    "pcpu": ("%CPU", 4, True, lambda p, c: "0.0"),
    "%mem": ("%MEM", 4, True, _pmem),
    "pmem": ("%MEM", 4, True, _pmem),
    "rss": ("RSS", 5, True, lambda p, c: str(p.rss)),
    "vsz": ("VSZ", 6, True, lambda p, c: str(p.vsz)),
    "tty": ("TT", 8, False, lambda p, c: p.tty),
    "etime": ("ELAPSED", 11, True, _elapsed),
    "time": ("TIME", 8, True, lambda p, c: "00:00:00"),
    "start": ("STARTED", 8, True, _start),
    "stime": ("STIME", 5, True, _start),
}
# The fixed formats (ps.1 "STANDARD FORMAT SPECIFIERS" and the BSD u/x formats).
_BSD_TIME = ("TIME", 6, True, lambda p, c: "0:00")
_FORMATS: dict[str, list[tuple[str, int, bool, Getter]]] = {
    "default": [FIELDS["pid"], ("TTY", 8, False, FIELDS["tty"][3]), FIELDS["time"],
                ("CMD", 27, False, lambda p, c: p.comm)],
    "full": [("UID", 8, False, FIELDS["user"][3]), FIELDS["pid"], FIELDS["ppid"],
             ("C", 2, True, lambda p, c: "0"), FIELDS["stime"],
             ("TTY", 8, False, FIELDS["tty"][3]), FIELDS["time"], FIELDS["cmd"]],
    "bsd_x": [FIELDS["pid"], ("TTY", 8, False, FIELDS["tty"][3]), FIELDS["stat"], _BSD_TIME,
              FIELDS["command"]],
    "bsd_u": [FIELDS["user"], FIELDS["pid"], FIELDS["%cpu"], FIELDS["%mem"], FIELDS["vsz"],
              FIELDS["rss"], ("TTY", 8, False, FIELDS["tty"][3]), FIELDS["stat"],
              ("START", 5, True, _start), _BSD_TIME, FIELDS["command"]],
}  # fmt: skip


def ps(model: GuestModel, argv: list[str], stdin: str, run: Runner) -> Result:
    """``ps`` with the selections and formats of the module docstring."""
    fmt = "default"
    columns: list[tuple[str, int, bool, Getter]] = []
    pids: set[int] | None = None
    names: set[str] | None = None
    headers = True
    args = argv[1:]
    while args:
        a = args.pop(0)
        if not a.startswith("-") and set(a) <= set("auxw"):
            fmt = "bsd_u" if "u" in a else ("bsd_x" if "x" in a else fmt)
        elif a in ("-e", "-A", "-w", "-ww", "-a", "-x"):
            continue
        elif a in ("-f", "-ef", "-fe", "-Af"):
            fmt = "full"
        elif a in ("-o", "-eo", "o", "--format") and args:
            parsed = _columns(args.pop(0))
            if parsed is None:
                return usage_error("ps", "error: unknown user-defined format specifier", 1)
            columns += parsed
        elif a in ("-p", "--pid", "p") and args:
            value = args.pop(0).replace(",", " ").split()
            if not all(v.isdigit() for v in value):
                return usage_error("ps", "error: process ID list syntax error", 1)
            pids = (pids or set()) | {int(v) for v in value}
        elif a == "-C" and args:
            names = (names or set()) | set(args.pop(0).split(","))
        elif a in ("--no-headers", "--no-heading", "h"):
            headers = False
        else:
            return not_imitated(" ".join(argv))
    table = columns or _FORMATS[fmt]
    now = procs.now()
    ctx = _Ctx(
        now,
        procs.boot_time(model, now),
        (model.runtime.facts.memory if model.runtime else 512) * 1024,
    )
    selected = [
        p
        for p in procs.processes(model, argv)
        if (pids is None or p.pid in pids) and (names is None or p.comm in names)
    ]
    lines: list[str] = []
    if headers and any(c[0] for c in table):
        lines.append(_row([c[0] for c in table], table))
    lines += [_row([c[3](p, ctx) for c in table], table) for p in selected]
    missing = (pids is not None or names is not None) and not selected
    return Result(1 if missing else 0, "".join(line + "\n" for line in lines))


def _columns(spec: str) -> list[tuple[str, int, bool, Getter]] | None:
    """``pid,comm=NAME``: each field with its header (``=`` gives a header, empty or not)."""
    found: list[tuple[str, int, bool, Getter]] = []
    items = [spec] if "=" in spec.split(",", 1)[0] else spec.replace(" ", ",").split(",")
    for item in items:
        if not item:
            continue
        key, eq, header = item.partition("=")
        field = FIELDS.get(key.lower())
        if field is None:
            return None
        found.append((header if eq else field[0], field[1], field[2], field[3]))
    return found


def _row(values: list[str], table: list[tuple[str, int, bool, Getter]]) -> str:
    cells = []
    for i, (value, (_, width, right, _get)) in enumerate(zip(values, table, strict=True)):
        if i == len(table) - 1 and not right:
            cells.append(value)  # the last left-aligned column is not padded
        else:
            cells.append(value.rjust(width) if right else value.ljust(width))
    return " ".join(cells)
