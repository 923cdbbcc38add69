"""``systemctl`` and ``ssh-keygen`` in the guest.

``systemctl stop|start|restart|is-active|is-enabled|enable|disable|status|list-units|
daemon-reload`` act on the unit files and runtime states of ``systemd.py`` (what ``status``,
``is-enabled`` and ``list-units`` print is in ``unitviews.py``); exit statuses follow
systemctl(1): 0 success, 1 job failed, 3 ``is-active``/``status`` of an inactive or failed
unit, 4 ``status`` of an unknown unit, 5 unit not found/loaded for start/stop.

``ssh-keygen -A`` creates the missing host keys as real keys (comment ``root@<hostname>``) and
prints OpenSSH's ``ssh-keygen: generating new host keys: RSA ECDSA ED25519``;
``ssh-keygen -l -f FILE`` prints ``<bits> SHA256:<fp> <comment> (<TYPE>)`` per key; OpenSSH's
``fatal()`` exits 255.
"""

from __future__ import annotations

from felhom_provider.sim.guest import hostkeys, systemd, units, unitviews
from felhom_provider.sim.guest.fs import FsError, Node
from felhom_provider.sim.guest.model import GuestModel
from felhom_provider.sim.guest.registry import Result, Runner, not_imitated

_VERBS = {
    "start", "stop", "restart", "is-active", "is-enabled", "enable", "disable", "status",
    "daemon-reload", "list-units",
}  # fmt: skip
_OPTIONS = {"--now", "--no-pager", "-q", "--quiet", "--no-block", "--system", "--all", "-a",
            "--no-legend", "--plain", "-l", "--full"}  # fmt: skip


def _job_failed(name: str) -> str:
    return (
        f"Job for {name} failed because the control process exited with error code.\n"
        f'See "systemctl status {name}" and "journalctl -xeu {name}" for details.\n'
    )


def systemctl(model: GuestModel, argv: list[str], stdin: str, run: Runner) -> Result:
    """The imitated verbs of systemctl(1); any other verb or option is not imitated."""
    opts = [a for a in argv[1:] if a.startswith("-")]
    args = [a for a in argv[1:] if not a.startswith("-")]
    unknown = {o for o in opts if not o.startswith(("--type=", "--state="))} - _OPTIONS
    if unknown or not args:
        return not_imitated(" ".join(argv))
    verb, names = args[0], [units.normalise(n) for n in args[1:]]
    if verb not in _VERBS:
        return not_imitated(f"systemctl {verb}")
    if model.runtime is None:
        return Result(
            1,
            "",
            "System has not been booted with systemd as init system (PID 1). Can't operate.\n",
        )
    rt = model.runtime
    if verb == "daemon-reload":
        return Result()  # unit files are read afresh by every job; nothing is cached
    if verb == "list-units":
        return unitviews.list_units(model, opts)
    if verb == "is-enabled" and names:
        return unitviews.is_enabled(model, names, quiet=bool({"-q", "--quiet"} & set(opts)))
    if not names:
        return Result(1, "", "Too few arguments.\n")
    out = Result()
    for requested in names:
        unit = units.find_unit(model.fs, requested)
        real = unit.name if unit is not None else requested
        if verb == "is-active":
            state = rt.state(real).active
            out = out.then(Result(0 if state == "active" and out.code == 0 else 3, state + "\n"))
        elif verb == "status":
            out = out.then(unitviews.status(model, requested))
        elif unit is None:
            what = "loaded" if verb == "stop" else "found"
            action = {"restart": "restart", "stop": "stop", "start": "start"}.get(verb, verb)
            out = out.then(
                Result(
                    5 if verb != "enable" else 1,
                    "",
                    f"Failed to {action} {requested}: Unit {requested} not {what}.\n",
                )
            )
        elif verb in ("enable", "disable"):
            lines = (
                units.enable(model.fs, unit) if verb == "enable" else units.disable(model.fs, unit)
            )
            if verb == "enable" and not unit.has_install:
                lines.append(
                    "The unit files have no installation config (WantedBy=, RequiredBy=, Also=,\n"
                    f"Alias= settings in the [Install] section) for {real}."
                )
            out = out.then(Result(out.code, "", "".join(line + "\n" for line in lines)))
            if "--now" in opts:
                then = "start" if verb == "enable" else "stop"
                out = out.then(_start_stop(model, real, then, run))
        else:
            out = out.then(_start_stop(model, real, verb, run))
    return out


def _start_stop(model: GuestModel, name: str, verb: str, run: Runner) -> Result:
    assert model.runtime is not None
    err = ""
    if verb in ("stop", "restart"):
        err = "".join(w + "\n" for w in systemd.stop(model, name))
    if verb in ("start", "restart"):
        systemd.start(model, [name], run)
        if (
            model.runtime.state(name).active != "active"
            and model.runtime.state(name).result != "success"
        ):
            if model.runtime.state(name).result == "condition":
                return Result(0, "", err)
            return Result(1, "", err + _job_failed(name))
    return Result(0, "", err)


def ssh_keygen(model: GuestModel, argv: list[str], stdin: str, run: Runner) -> Result:
    """``ssh-keygen -A`` and ``ssh-keygen -l [-E sha256] -f FILE``."""
    args = argv[1:]
    if args == ["-A"]:
        return _generate_all(model)
    path = None
    listing = False
    while args:
        a = args.pop(0)
        if a in ("-l", "-lf", "-fl"):
            listing = True
            if a != "-l":
                path = args.pop(0) if args else None
        elif a == "-f" and args:
            path = args.pop(0)
        elif a == "-E" and args and args[0] == "sha256":
            args.pop(0)
        else:
            return not_imitated(" ".join(argv))
    if not listing or path is None:
        return not_imitated(" ".join(argv))
    return _fingerprints(model, path)


def _generate_all(model: GuestModel) -> Result:
    if not model.fs.is_dir("/etc/ssh"):
        return Result(
            1,
            "ssh-keygen: generating new host keys: RSA ",
            'Saving key "/etc/ssh/ssh_host_rsa_key" failed: No such file or directory\n',
        )
    missing = [t for t in hostkeys.KEY_TYPES if not model.fs.exists(hostkeys.host_key_path(t))]
    if not missing:
        return Result()
    host = model.runtime.hostname if model.runtime else "localhost"
    for key_type in missing:
        key = hostkeys.generate(key_type, f"root@{host}")
        path = hostkeys.host_key_path(key_type)
        model.fs.put(path, Node("file", key.private_text, 0o600))
        model.fs.put(path + ".pub", Node("file", key.public_line, 0o644))
    labels = " ".join(hostkeys.LABELS[t] for t in missing)
    return Result(0, f"ssh-keygen: generating new host keys: {labels} \n")


def _fingerprints(model: GuestModel, path: str) -> Result:
    try:
        text = model.fs.read(path)
    except FsError as exc:
        return Result(255, "", f"{path}: {exc.reason}\n")
    if "PRIVATE KEY" in text:
        try:
            text = model.fs.read(path + ".pub")
        except FsError:
            text = hostkeys.public_line_of_private(text)
    lines = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        try:
            lines.append(hostkeys.parse_public_line(line).line())
        except ValueError:
            return Result(255, "", f"{path} is not a public key file.\n")
    if not lines:
        return Result(255, "", f"{path} is not a public key file.\n")
    return Result(0, "".join(x + "\n" for x in lines))
