"""Reading the guest's journal: which lines belong to a unit, and when a unit last changed.

The journal is kept as text lines ``<Mon DD HH:MM:SS> <host> <ident>: <message>``
(``systemd.journal`` writes them; ``procs.journal_lines`` reads them). A line belongs to a
unit when systemd (``systemd[1]``) names the unit in it, or when it was logged by one of the
unit's programs (the first word of an ``ExecStartPre=``/``ExecStart=`` line), which is what
the ``_SYSTEMD_UNIT=`` match of ``journalctl -u`` selects on a real system. Timestamps are
read as UTC in the current year (the text has no year).
"""

from __future__ import annotations

import datetime
import posixpath
import re
import shlex

from felhom_provider.sim.guest import procs, units
from felhom_provider.sim.guest.model import GuestModel

_LINE = re.compile(r"^(\w{3} [ \d]\d \d\d:\d\d:\d\d) (\S+) ([^:]+): (.*)$")


def _programs(model: GuestModel, name: str) -> set[str]:
    unit = units.find_unit(model.fs, name)
    if unit is None:
        return set()
    found = set()
    for line in unit.get("Service", "ExecStartPre") + unit.get("Service", "ExecStart"):
        words = shlex.split(line.lstrip("-@+!:"))
        if words:
            found.add(posixpath.basename(words[0]))
    return found


def unit_lines(model: GuestModel, name: str) -> list[str]:
    """The journal lines of unit ``name``, oldest first."""
    programs = _programs(model, name)
    mention = re.compile(rf"(^|\W){re.escape(name)}(\W|$)")
    found = []
    for line in procs.journal_lines(model):
        m = _LINE.match(line)
        if m is None:
            continue
        ident = m.group(3).split("[", 1)[0]
        if (ident == "systemd" and mention.search(m.group(4))) or ident in programs:
            found.append(line)
    return found


def stamp_of(line: str, now: datetime.datetime) -> datetime.datetime | None:
    """The time a journal line was written (UTC), None for a line without a stamp."""
    m = _LINE.match(line)
    if m is None:
        return None
    when = datetime.datetime.strptime(f"{now.year} {m.group(1)}", "%Y %b %d %H:%M:%S").replace(
        tzinfo=datetime.UTC
    )
    return when if when <= now else when.replace(year=now.year - 1)


def last_change(model: GuestModel, name: str, now: datetime.datetime) -> datetime.datetime | None:
    """When systemd last started, stopped, failed or skipped the unit."""
    for line in reversed(unit_lines(model, name)):
        if " systemd[1]: " in line:
            return stamp_of(line, now)
    return None


def unmet_condition(model: GuestModel, name: str) -> str | None:
    """The condition that stopped the unit's last start (``ConditionFirstBoot=yes``)."""
    for line in reversed(unit_lines(model, name)):
        m = re.search(r"because of an unmet condition check \((.+)\)\.$", line)
        if m:
            return m.group(1)
    return None


def relative(then: datetime.datetime, now: datetime.datetime) -> str:
    """systemd's ``format_timestamp_relative`` (time-util.c) for a time in the past."""
    d = int((now - then).total_seconds())
    minute, hour, day = 60, 3600, 86400
    if d >= 7 * day:
        return f"{d // (7 * day)} weeks {d % (7 * day) // day} days ago"
    if d >= 2 * day:
        return f"{d // day} days ago"
    if d >= 25 * hour:
        return f"1 day {(d - day) // hour}h ago"
    if d >= 6 * hour:
        return f"{d // hour}h ago"
    if d >= hour:
        return f"{d // hour}h {d % hour // minute}min ago"
    if d >= 5 * minute:
        return f"{d // minute}min ago"
    if d >= minute:
        return f"{d // minute}min {d % minute}s ago"
    if d >= 1:
        return f"{d}s ago"
    return "now"
