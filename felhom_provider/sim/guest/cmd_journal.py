"""``journalctl`` (systemd 257) over the guest's text journal (see ``journal.py``).

Imitated: ``-u``/``--unit=UNIT`` (repeatable; ``ssh`` means ``ssh.service``), ``-n N``/
``--lines=N``, ``-b``/``--boot`` (lines since the current boot's first line), ``-e``
(the last 1000 lines), ``-o short|cat``, ``-q``, ``--no-pager``, ``-x`` (no catalog texts
exist here, so it changes nothing). Output is the ``short`` format, ``Mon DD HH:MM:SS host
ident: message``; when nothing matches journalctl prints ``-- No entries --`` and exits 0.
Following (``-f``), time ranges, fields and priorities are not imitated; lines of all boots are
shown without ``-- Boot … --`` separators.
"""

from __future__ import annotations

import re

from felhom_provider.sim.guest import journal, procs, units
from felhom_provider.sim.guest.model import GuestModel
from felhom_provider.sim.guest.registry import Result, Runner, not_imitated, usage_error


def journalctl(model: GuestModel, argv: list[str], stdin: str, run: Runner) -> Result:
    """``journalctl`` with the options of the module docstring."""
    names: list[str] = []
    count: int | None = None
    boot = cat = False
    args = argv[1:]
    while args:
        a = args.pop(0)
        value: str | None = None
        if a in ("-u", "--unit", "-n", "--lines", "-o", "--output") and args:
            value = args.pop(0)
        elif a.startswith(("--unit=", "--lines=", "--output=")):
            a, value = a.split("=", 1)
        elif len(a) > 2 and a[:2] in ("-u", "-n", "-o"):
            a, value = a[:2], a[2:]
        if a in ("-u", "--unit") and value is not None:
            names.append(units.normalise(value))
        elif a in ("-n", "--lines") and value is not None:
            if not value.isdigit():
                return usage_error("journalctl", f'Failed to parse lines "{value}".')
            count = int(value)
        elif a in ("-o", "--output") and value in ("short", "cat"):
            cat = value == "cat"
        elif a in ("-b", "--boot"):
            boot = True
        elif a == "-e":
            count = 1000 if count is None else count
        elif a in ("--no-pager", "-q", "--quiet", "-x", "--catalog"):
            continue
        else:
            return not_imitated(" ".join(argv))
    if names:
        chosen = {line for name in names for line in journal.unit_lines(model, name)}
        lines = [line for line in procs.journal_lines(model) if line in chosen]
    else:
        lines = procs.journal_lines(model)
    if boot:
        starts = [i for i, line in enumerate(lines) if " kernel: Booting CT " in line]
        lines = lines[starts[-1] :] if starts else lines
    if count is not None:
        lines = lines[-count:] if count else []
    if not lines:
        return Result(0, "-- No entries --\n")
    if cat:
        lines = [re.sub(r"^\w{3} [ \d]\d \d\d:\d\d:\d\d \S+ [^:]+: ", "", line) for line in lines]
    return Result(0, "".join(line + "\n" for line in lines))
