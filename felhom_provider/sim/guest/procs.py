"""The guest's processes, derived from its running units (what ``ps`` and ``ss`` show).

Processes are not simulated one by one: the list is computed from the runtime state each
time. PID 1 is systemd (``/sbin/init``), ``systemd-journald`` always runs, and every unit in
``active (running)`` state contributes its main process (the first word of its last
``ExecStart=``); ``networking.service`` (``ifup`` for a DHCP interface) leaves ``dhclient``
behind while a lease is held. The program that asks (``ps``) is the last process.

PIDs are handed out in start order (a stable stand-in for the kernel's counter); memory
figures are typical resident and virtual sizes of these daemons on Debian 13 amd64, CPU time
is not modelled (always 0). The boot time is the time the journal recorded for the boot.
Not listed: kernel threads (a CT has none of its own), getty/console processes, the shell
that runs a ``sh -c`` pipeline.
"""

from __future__ import annotations

import datetime
import posixpath
import re
import shlex
from dataclasses import dataclass

from felhom_provider.sim.guest import units
from felhom_provider.sim.guest.model import GuestModel

# (comm, VSZ KiB, RSS KiB) of a program; comm is the kernel's 15-character process name.
_PROFILE: dict[str, tuple[str, int, int]] = {
    "init": ("systemd", 22136, 12800),
    "systemd-journald": ("systemd-journal", 33052, 10624),
    "sshd": ("sshd", 11788, 7296),
    "cron": ("cron", 6684, 2688),
    "containerd": ("containerd", 1944148, 47232),
    "dockerd": ("dockerd", 2214508, 81920),
    "dhclient": ("dhclient", 5848, 3968),
    "ps": ("ps", 8300, 4224),
}
_DEFAULT_PROFILE = (8000, 4000)
_STAMP = re.compile(r"^(\w{3} [ \d]\d \d\d:\d\d:\d\d) \S+ kernel: Booting CT ")


@dataclass(frozen=True)
class Process:
    """One process as ``/proc/<pid>`` would describe it."""

    pid: int
    ppid: int
    comm: str
    args: str
    stat: str
    vsz: int
    rss: int
    unit: str = ""
    tty: str = "?"


def journal_lines(model: GuestModel) -> list[str]:
    """Every journal line of the guest, oldest first (persistent, then volatile)."""
    lines: list[str] = []
    rt = model.runtime
    if rt is not None and rt.machine_id:
        path = f"/var/log/journal/{rt.machine_id}/system.journal"
        if model.fs.is_file(path):
            lines += model.fs.read(path).splitlines()
    if rt is not None:
        lines += [line.rstrip("\n") for line in rt.volatile_journal]
    return lines


def boot_time(model: GuestModel, now: datetime.datetime) -> datetime.datetime:
    """When the current boot started: the last ``Booting CT`` journal stamp (UTC, this year
    or the last), else ``now``."""
    for line in reversed(journal_lines(model)):
        m = _STAMP.match(line)
        if m:
            stamp = datetime.datetime.strptime(f"{now.year} {m.group(1)}", "%Y %b %d %H:%M:%S")
            when = stamp.replace(tzinfo=datetime.UTC)
            return when if when <= now else when.replace(year=now.year - 1)
    return now


def _main_argv(model: GuestModel, unit_name: str) -> list[str] | None:
    unit = units.find_unit(model.fs, unit_name)
    if unit is None:
        return None
    lines = unit.get("Service", "ExecStart")
    return shlex.split(lines[-1].lstrip("-@+!:")) if lines else None


def _title(argv: list[str]) -> str:
    name = posixpath.basename(argv[0])
    if name == "sshd":
        # OpenSSH 10 sshd.c sets the listener's process title like this.
        return f"sshd: {' '.join(argv)} [listener] 0 of 10-100 startups"
    return " ".join(argv)


def processes(model: GuestModel, argv: list[str]) -> list[Process]:
    """The guest's processes, PID order; ``argv`` is the command that asks (last entry)."""
    rt = model.runtime
    if rt is None:
        return []
    found = [
        _process(1, 0, "init", "/sbin/init", "Ss", unit="init.scope"),
        _process(40, 1, "systemd-journald", "/usr/lib/systemd/systemd-journald", "Ss",
                 unit="systemd-journald.service"),
    ]  # fmt: skip
    pid = 60
    for name, state in rt.units.items():
        if state.sub != "running" or not name.endswith(".service"):
            continue
        exec_argv = _main_argv(model, name)
        if exec_argv is None:
            continue
        program = posixpath.basename(exec_argv[0])
        threads = program in ("dockerd", "containerd")
        found.append(
            _process(pid, 1, program, _title(exec_argv), "Ssl" if threads else "Ss", unit=name)
        )
        pid += 20
    if rt.lease is not None and rt.state("networking.service").active == "active":
        iface = rt.lease["iface"]
        dhclient = (
            f"dhclient -4 -v -i -pf /run/dhclient.{iface}.pid -lf "
            f"/var/lib/dhcp/dhclient.{iface}.leases -I -df /var/lib/dhcp/dhclient6.{iface}.leases"
            f" {iface}"
        )
        found.append(_process(pid, 1, "dhclient", dhclient, "Ss", unit="networking.service"))
        pid += 20
    found.append(_process(pid + 100, 0, posixpath.basename(argv[0]), " ".join(argv), "Rs", unit=""))
    return sorted(found, key=lambda p: p.pid)


def _process(pid: int, ppid: int, program: str, args: str, stat: str, *, unit: str) -> Process:
    comm, vsz, rss = _PROFILE.get(program, (program[:15], *_DEFAULT_PROFILE))
    return Process(pid, ppid, comm, args, stat, vsz, rss, unit)


def main_pid(model: GuestModel, unit_name: str) -> Process | None:
    """The main process of a running unit (``systemctl status`` "Main PID")."""
    return next((p for p in processes(model, ["ps"]) if p.unit == unit_name), None)


def now() -> datetime.datetime:
    """The guest's clock (UTC); one function so tests can pin it."""
    return datetime.datetime.now(datetime.UTC)
