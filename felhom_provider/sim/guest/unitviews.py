"""What ``systemctl status``, ``is-enabled`` and ``list-units`` print (systemd 257).

``status`` follows ``systemctl-show.c`` ``print_status_info``: the state circle (``●`` active,
``○`` inactive, U+00D7 for failed), ``Loaded:`` with the enablement and Debian's preset
(``enable *``: ``preset: enabled``; a static unit has none), ``Active:`` with ``since
<%a %Y-%m-%d %H:%M:%S %Z>; <relative>`` taken from the journal, ``Invocation:`` for a unit that
ran, ``Condition:`` for a start skipped by a condition, ``Main PID:`` and the ``CGroup:`` tree of
a running unit, then the unit's last ten journal lines. Field names are right-aligned to
eleven characters. Not shown (not modelled): ``Docs:``, ``TriggeredBy:``, ``Tasks:``,
``Memory:``, ``CPU:``, ``Process:`` lines of finished commands, ``Duration:``.

``list-units`` is ``systemctl-list-units.c`` off a terminal: a two-character state column
(``● `` for a failed unit), ``UNIT LOAD ACTIVE SUB DESCRIPTION`` padded to the widest entry,
the legend and the count; ``--all``, ``--type=``, ``--state=``, ``--no-legend`` and
``--plain`` are honoured. ``is-enabled`` prints ``enabled``/``disabled``/``static``/``alias``.
"""

from __future__ import annotations

import datetime
import hashlib

from felhom_provider.sim.guest import journal, procs, units
from felhom_provider.sim.guest.model import GuestModel
from felhom_provider.sim.guest.registry import Result

# systemd's glyphs: black circle, white circle (inactive), multiplication sign (failed).
_CIRCLE = {"active": "\u25cf", "failed": "\u00d7"}
_LEGEND = (
    "\nLegend: LOAD   → Reflects whether the unit definition was properly loaded.\n"
    "        ACTIVE → The high-level unit activation state, i.e. generalization of SUB.\n"
    "        SUB    → The low-level unit activation state, values depend on unit type.\n"
)


# Description= of systemd's own targets (units/*.target in systemd 257); the model starts
# targets without unit files.
TARGETS = {
    "sockets.target": "Socket Units",
    "multi-user.target": "Multi-User System",
    "network.target": "Network",
    "network-online.target": "Network is Online",
}


def _stamp(when: datetime.datetime) -> str:
    # systemd format_timestamp(): "%a %Y-%m-%d %H:%M:%S %Z"; the guest's zone is UTC.
    return when.strftime("%a %Y-%m-%d %H:%M:%S UTC")


def _field(name: str, value: str) -> str:
    return f"{name:>11}: {value}\n"


def enablement(model: GuestModel, unit: units.Unit, requested: str) -> str:
    """``enabled``, ``disabled``, ``static`` or ``alias`` (``systemctl is-enabled``)."""
    if requested != unit.name and requested in unit.words("Install", "Alias"):
        return "alias"
    if not unit.has_install:
        return "static"
    return "enabled" if units.is_enabled(model.fs, unit) else "disabled"


def status(model: GuestModel, requested: str) -> Result:
    """``systemctl status UNIT``: exit 0 active, 3 not active, 4 unknown."""
    unit = units.find_unit(model.fs, requested)
    if unit is None:
        return Result(4, "", f"Unit {requested} could not be found.\n")
    assert model.runtime is not None
    st = model.runtime.state(unit.name)
    now = procs.now()
    state = enablement(model, unit, unit.name)
    preset = "" if state == "static" else "; preset: enabled"
    text = f"{_CIRCLE.get(st.active, '○')} {unit.name} - {unit.first('Unit', 'Description')}\n"
    text += _field("Loaded", f"loaded ({unit.path}; {state}{preset})")
    active = f"{st.active} ({st.sub})"
    if st.active == "failed":
        active = f"failed (Result: {st.result})"
    changed = journal.last_change(model, unit.name, now)
    skipped = st.result == "condition"
    if changed is not None and not skipped:
        active += f" since {_stamp(changed)}; {journal.relative(changed, now)}"
    text += _field("Active", active)
    condition = journal.unmet_condition(model, unit.name)
    if changed is not None and skipped and condition is not None:
        when = f"{_stamp(changed)}; {journal.relative(changed, now)}"
        text += _field("Condition", f"start condition unmet at {when}")
        text += f"             └─ {condition} was not met\n"
    if st.active != "inactive":
        digest = hashlib.sha256(f"{model.runtime.boot_id}/{unit.name}".encode()).hexdigest()
        text += _field("Invocation", digest[:32])
    main = procs.main_pid(model, unit.name) if st.sub == "running" else None
    if main is not None:
        text += _field("Main PID", f"{main.pid} ({main.comm})")
        args = f'"{main.args}"' if main.args.startswith(f"{main.comm}: ") else main.args
        text += _field("CGroup", f"/system.slice/{unit.name}")
        text += f"             └─{main.pid} {args}\n"
    lines = journal.unit_lines(model, unit.name)[-10:]
    if lines:
        text += "\n" + "".join(line + "\n" for line in lines)
    return Result(0 if st.active == "active" else 3, text)


def is_enabled(model: GuestModel, names: list[str], quiet: bool) -> Result:
    """``systemctl is-enabled UNIT…``: 0 when one of them is enabled, static or an alias."""
    out, err, ok = "", "", False
    for name in names:
        unit = units.find_unit(model.fs, name)
        if unit is None:
            err += f"Failed to get unit file state for {name}: No such file or directory\n"
            continue
        state = enablement(model, unit, name)
        ok = ok or state != "disabled"
        out += state + "\n"
    return Result(0 if ok else 1, "" if quiet else out, err)


def list_units(model: GuestModel, opts: list[str]) -> Result:
    """``systemctl list-units [--all] [--type=T] [--state=S] [--no-legend] [--plain]``."""
    assert model.runtime is not None
    show_all = "--all" in opts or "-a" in opts
    types = {o.split("=", 1)[1] for o in opts if o.startswith("--type=")}
    states = {o.split("=", 1)[1] for o in opts if o.startswith("--state=")}
    rows: list[tuple[str, list[str]]] = []
    for name, st in sorted(model.runtime.units.items()):
        if types and name.rsplit(".", 1)[-1] not in types:
            continue
        if states and not states & {st.active, st.sub}:
            continue
        if not (show_all or states) and st.active == "inactive":
            continue
        unit = units.find_unit(model.fs, name)
        description = (
            unit.first("Unit", "Description") if unit is not None else TARGETS.get(name, name)
        )
        circle = "●" if st.active == "failed" else " "
        rows.append((circle, [name, "loaded", st.active, st.sub, description]))
    table = [["UNIT", "LOAD", "ACTIVE", "SUB", "DESCRIPTION"]] + [r[1] for r in rows]
    widths = [max(len(r[i]) for r in table) for i in range(4)]

    def line(circle: str, cells: list[str]) -> str:
        padded = [c.ljust(w) for c, w in zip(cells, widths, strict=False)] + [cells[4]]
        lead = "" if "--plain" in opts else circle + " "
        return lead + " ".join(padded) + "\n"

    legend = "--no-legend" not in opts
    out = line(" ", table[0]) if legend else ""
    out += "".join(line(c, cells) for c, cells in rows)
    if legend:
        # systemctl-list-units.c: the legend only when a unit is listed; the hint lines depend
        # on --all and --state=.
        out += _LEGEND if rows else ""
        out += f"\n{len(rows)} loaded units listed."
        if show_all or "inactive" in states:
            out += "\nTo show all installed unit files use 'systemctl list-unit-files'.\n"
        elif not states:
            out += " Pass --all to see loaded but inactive units, too.\n"
            out += "To show all installed unit files use 'systemctl list-unit-files'.\n"
        else:
            out += "\n"
    return Result(0, out)
