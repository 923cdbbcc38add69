"""The guest's service manager: start and stop jobs over the unit files in the guest.

A start job pulls in ``Wants=``/``Requires=`` and ``<unit>.wants/`` links transitively, orders
the transaction by ``Before=``/``After=`` (ties by name, so runs are reproducible), then for each
unit checks ``Requires=`` results and conditions and runs ``ExecStartPre=``/``ExecStart=``:

* ``Type=oneshot``: every ``ExecStart=`` runs to completion; ``RemainAfterExit=yes`` leaves the
  unit ``active (exited)``, otherwise ``inactive (dead)``;
* other types: a known daemon (``sshd -D``, ``dockerd``, ``containerd``, ``cron``) becomes
  ``active (running)`` when its start-up check passes; any other program runs to completion in
  the guest interpreter (a simplification: real ``Type=simple`` does not wait for it);
* a failing step leaves the unit ``failed`` (``Result: exit-code``); ``Restart=`` is not imitated
  (on a real node ``ssh.service`` also ends up failed after its restart attempts).

Targets are virtual: reaching one does nothing but mark it active.
"""

from __future__ import annotations

import posixpath
import shlex

from felhom_provider.sim.guest import hostkeys, procs, units
from felhom_provider.sim.guest.model import GuestModel, UnitState
from felhom_provider.sim.guest.registry import Result, Runner

DEFAULT_TARGETS = ("sockets.target", "multi-user.target")
DAEMONS = {"sshd", "dockerd", "containerd", "cron"}


def journal(model: GuestModel, ident: str, message: str) -> None:
    """Append to the journal: persistent under /var/log/journal if that exists (journald's
    ``Storage=auto``), otherwise volatile (lost at stop). Stored as text, not journal format."""
    rt = model.runtime
    stamp = procs.now().strftime("%b %d %H:%M:%S")  # the guest's clock (UTC)
    host = rt.hostname if rt else "localhost"
    line = f"{stamp} {host} {ident}: {message}\n"
    if rt is not None and model.fs.is_dir("/var/log/journal") and rt.machine_id:
        directory = f"/var/log/journal/{rt.machine_id}"
        model.fs.mkdir(directory, parents=True)
        model.fs.write(f"{directory}/system.journal", line, append=True)
    elif rt is not None:
        rt.volatile_journal.append(line)


def _deps(model: GuestModel, name: str) -> list[str]:
    found = units.wants_of(model.fs, name)
    unit = units.find_unit(model.fs, name)
    if unit is not None:
        found += unit.words("Unit", "Wants") + unit.words("Unit", "Requires")
    return found


def _transaction(model: GuestModel, names: list[str]) -> list[str]:
    """Units to start for ``names``, in start order."""
    seen: list[str] = []
    queue = list(names)
    while queue:
        n = queue.pop(0)
        if n in seen:
            continue
        seen.append(n)
        queue.extend(_deps(model, n))
    loaded = {n: units.find_unit(model.fs, n) for n in seen}
    after: dict[str, set[str]] = {n: set() for n in seen}
    for n, unit in loaded.items():
        if unit is None:
            continue
        for b in unit.words("Unit", "Before"):
            if b in after:
                after[b].add(n)
        for a in unit.words("Unit", "After"):
            if a in after:
                after[n].add(a)
    order: list[str] = []
    while after:
        ready = sorted(n for n, deps in after.items() if not deps - set(order))
        if not ready:  # an ordering cycle: systemd breaks it by dropping a job; take the first
            ready = [sorted(after)[0]]
        order.append(ready[0])
        del after[ready[0]]
    return order


def _run_line(model: GuestModel, line: str, run: Runner) -> tuple[Result, bool]:
    """Run one ``Exec*=`` line; returns (result, ignore_failure)."""
    ignore = line.startswith("-")
    argv = shlex.split(line.lstrip("-@+!:"))
    name = posixpath.basename(argv[0])
    if name == "sshd":
        return sshd_check(model), ignore
    if name == "ifup":
        return _ifup(model), ignore
    if name == "dockerd":
        return _dockerd_check(model), ignore
    if name in DAEMONS:
        return Result(), ignore
    return run(model, argv, ""), ignore


def sshd_check(model: GuestModel) -> Result:
    """``sshd -t``: fails when no default host key can be loaded (OpenSSH's sshd.c)."""
    err = ""
    loaded = 0
    for key_type in hostkeys.KEY_TYPES:
        path = hostkeys.host_key_path(key_type)
        if model.fs.is_file(path):
            loaded += 1
        else:
            err += f"Unable to load host key: {path}\n"
    if loaded == 0:
        return Result(1, "", err + "sshd: no hostkeys available -- exiting.\n")
    return Result(0, "", err)


def _ifup(model: GuestModel) -> Result:
    rt = model.runtime
    if rt is not None and rt.lease:
        lease = rt.lease
        # isc-dhcp-client's lease database (virt-sysprep's dhcp-client-state clears this dir).
        text = (
            f'lease {{\n  interface "{lease["iface"]}";\n  fixed-address {lease["ip"]};\n'
            f'  option host-name "{rt.hostname}";\n  # hardware ethernet {lease["mac"]}\n}}\n'
        )
        model.fs.write(f"/var/lib/dhcp/dhclient.{lease['iface']}.leases", text, append=True)
    return Result()


def _dockerd_check(model: GuestModel) -> Result:
    facts = model.runtime.facts if model.runtime else None
    if facts is None or not facts.nesting:
        # Without nesting, AppArmor denies the mounts dockerd needs in a CT (design §4.5).
        return Result(
            1, "", "failed to start daemon: operation not permitted (CT has no nesting=1)\n"
        )
    return Result()


def _activate(model: GuestModel, name: str, run: Runner) -> None:
    rt = model.runtime
    assert rt is not None
    state = rt.state(name)
    if state.active == "active":
        return
    unit = units.find_unit(model.fs, name)
    if unit is None:
        if name.endswith(".target"):
            rt.units[name] = UnitState("active", "active")
        return
    for req in unit.words("Unit", "Requires"):
        if rt.state(req).active != "active":
            rt.units[name] = UnitState("inactive", "dead", "dependency")
            journal(model, "systemd[1]", f"Dependency failed for {name}.")
            return
    failed = units.check_conditions(model.fs, unit, first_boot=rt.first_boot)
    if failed is not None:
        rt.units[name] = UnitState("inactive", "dead", "condition")
        journal(
            model,
            "systemd[1]",
            f"{name} was skipped because of an unmet condition check ({failed}).",
        )
        return
    if name.endswith(".socket"):
        rt.units[name] = UnitState("active", "listening")
        return
    kind = unit.first("Service", "Type", "simple")
    title = f"{name} - {unit.first('Unit', 'Description')}"
    # systemd 257's job messages (src/core/job.c): "Starting …", then "Started …" or, for a
    # oneshot service, "Finished …"; a failure logs the result and "Failed to start …".
    journal(model, "systemd[1]", f"Starting {title}...")
    steps = [(line, False) for line in unit.get("Service", "ExecStartPre")]
    steps += [(line, True) for line in unit.get("Service", "ExecStart")]
    daemon = False
    for line, main in steps:
        res, ignore = _run_line(model, line, run)
        for out in (res.stdout + res.stderr).splitlines():
            journal(model, posixpath.basename(shlex.split(line.lstrip("-@+!:"))[0]), out)
        if res.code != 0 and not ignore:
            rt.units[name] = UnitState("failed", "failed", "exit-code")
            journal(
                model,
                "systemd[1]",
                f"{name}: Control process exited, code=exited, status={res.code}/FAILURE",
            )
            journal(model, "systemd[1]", f"{name}: Failed with result 'exit-code'.")
            journal(model, "systemd[1]", f"Failed to start {title}.")
            return
        if main and kind != "oneshot":
            daemon = posixpath.basename(shlex.split(line.lstrip("-@+!:"))[0]) in DAEMONS
    if daemon:
        rt.units[name] = UnitState("active", "running")
    elif kind == "oneshot" and unit.first("Service", "RemainAfterExit").lower() in (
        "yes",
        "true",
        "1",
    ):
        rt.units[name] = UnitState("active", "exited")
    else:
        rt.units[name] = UnitState("inactive", "dead", "success")
        journal(model, "systemd[1]", f"{name}: Deactivated successfully.")
    journal(model, "systemd[1]", f"{'Finished' if kind == 'oneshot' else 'Started'} {title}.")


def start(model: GuestModel, names: list[str], run: Runner) -> None:
    """Enqueue start jobs for ``names`` and everything they pull in, then run them.

    ``run`` is the interpreter that executes ``ExecStartPre=``/``ExecStart=`` lines; the
    caller passes it in (``shell.run``) so that this module does not import the shell.
    """
    for name in _transaction(model, names):
        _activate(model, name, run)


def stop(model: GuestModel, name: str) -> list[str]:
    """Stop one unit; returns systemctl's warnings (a still-active triggering socket)."""
    rt = model.runtime
    assert rt is not None
    warnings: list[str] = []
    if rt.state(name).active in ("active", "failed") or rt.state(name).sub != "dead":
        unit = units.find_unit(model.fs, name)
        title = f"{name} - {unit.first('Unit', 'Description')}" if unit is not None else name
        journal(model, "systemd[1]", f"Stopping {title}...")
        journal(model, "systemd[1]", f"{name}: Deactivated successfully.")
        journal(model, "systemd[1]", f"Stopped {title}.")
    rt.units[name] = UnitState()
    socket = name.rsplit(".", 1)[0] + ".socket"
    if name.endswith(".service") and rt.state(socket).active == "active":
        warnings.append(f"Stopping '{name}', but its triggering units are still active:\n{socket}")
    return warnings
