"""File commands of the guest: coreutils as the golden recipe and the bring-up use them.

Imitated: ``truncate -s 0``, ``rm [-f] [-r]``, ``ln -s [-f] [-n]``, ``cat``, ``test``/``[``,
``install [-d] [-m MODE] [-o U] [-g G]`` (``/dev/stdin`` as source writes stdin to a file),
``tee [-a]``, ``chmod`` (octal and ``ugoa+-=rwx``), ``mkdir [-p] [-m MODE]``, ``hostname
[-s|-f|-I]``, ``echo [-n]``, ``touch [-c]``, ``whoami``, ``id``, ``true``, ``false`` and
``:``. Messages and exit statuses are GNU coreutils' (``rm: cannot remove 'x': No such file or
directory``, status 1). Hard links, ownership and other options answer "not imitated".
"""

from __future__ import annotations

import posixpath

from felhom_provider.sim.guest import netinfo
from felhom_provider.sim.guest.fs import EEXIST, FsError
from felhom_provider.sim.guest.model import GuestModel
from felhom_provider.sim.guest.registry import Result, Runner, not_imitated, usage_error


def _flags(argv: list[str], allowed: str) -> tuple[set[str], list[str]] | None:
    """Split short flags (``-rf``) from operands; None when an unknown flag appears."""
    flags: set[str] = set()
    operands: list[str] = []
    only_operands = False
    for a in argv[1:]:
        if only_operands or not a.startswith("-") or a == "-":
            operands.append(a)
        elif a == "--":
            only_operands = True
        elif set(a[1:]) <= set(allowed) and not a.startswith("--"):
            flags |= set(a[1:])
        else:
            return None
    return flags, operands


def true(model: GuestModel, argv: list[str], stdin: str, run: Runner) -> Result:
    """``true``/``:``: succeed, so ``: > file`` truncates or creates the file."""
    return Result()


def false(model: GuestModel, argv: list[str], stdin: str, run: Runner) -> Result:
    """``false``: fail with status 1."""
    return Result(1)


def touch(model: GuestModel, argv: list[str], stdin: str, run: Runner) -> Result:
    """``touch [-c] FILE…``: create missing files (timestamps are not modelled)."""
    parsed = _flags(argv, "c")
    if parsed is None:
        return not_imitated(" ".join(argv))
    flags, files = parsed
    if not files:
        return usage_error(
            "touch", "missing file operand\nTry 'touch --help' for more information."
        )
    return _empty_files(
        model,
        [f for f in files if "c" not in flags and not model.fs.exists(f)],
        "touch: cannot touch '{}': {}\n",
    )


def _empty_files(model: GuestModel, files: list[str], message: str) -> Result:
    """Create or truncate each file; ``message`` formats (file, reason) of a failure."""
    code, err = 0, ""
    for f in files:
        try:
            model.fs.write(f, "")
        except FsError as exc:
            code, err = 1, err + message.format(f, exc.reason)
    return Result(code, "", err)


def whoami(model: GuestModel, argv: list[str], stdin: str, run: Runner) -> Result:
    """``whoami``: ``pct exec`` runs as root."""
    return Result(0, "root\n") if len(argv) == 1 else not_imitated(" ".join(argv))


def id_(model: GuestModel, argv: list[str], stdin: str, run: Runner) -> Result:
    """``id [-u|-g|-n -u]``: root's identity (coreutils id.c ``print_full_info``)."""
    answers = {
        (): "uid=0(root) gid=0(root) groups=0(root)",
        ("-u",): "0",
        ("-g",): "0",
        ("-un",): "root",
        ("-nu",): "root",
        ("-u", "-n"): "root",
        ("-n", "-u"): "root",
    }
    answer = answers.get(tuple(argv[1:]))
    return Result(0, answer + "\n") if answer is not None else not_imitated(" ".join(argv))


def echo(model: GuestModel, argv: list[str], stdin: str, run: Runner) -> Result:
    """``echo [-n] words…``."""
    args = argv[1:]
    newline = "\n"
    if args and args[0] == "-n":
        args, newline = args[1:], ""
    return Result(0, " ".join(args) + newline)


def truncate(model: GuestModel, argv: list[str], stdin: str, run: Runner) -> Result:
    """``truncate -s 0 [-c] FILE…`` (only size 0 is imitated)."""
    args = [a for a in argv[1:]]
    size: str | None = None
    no_create = False
    files: list[str] = []
    while args:
        a = args.pop(0)
        if a == "-s" and args:
            size = args.pop(0)
        elif a.startswith("--size="):
            size = a.split("=", 1)[1]
        elif a.startswith("-s") and len(a) > 2:
            size = a[2:]
        elif a in ("-c", "--no-create"):
            no_create = True
        else:
            files.append(a)
    if size is None:
        return usage_error("truncate", "you must specify either '--size' or '--reference'")
    if size != "0":
        return not_imitated(f"truncate -s {size}")
    if not files:
        return usage_error("truncate", "missing file operand")
    return _empty_files(
        model,
        [f for f in files if not (no_create and not model.fs.exists(f))],
        "truncate: cannot open '{}' for writing: {}\n",
    )


def rm(model: GuestModel, argv: list[str], stdin: str, run: Runner) -> Result:
    """``rm [-f] [-r|-R] FILE…``."""
    parsed = _flags(argv, "frRv")
    if parsed is None:
        return not_imitated(" ".join(argv))
    flags, files = parsed
    force, recursive = "f" in flags, bool(flags & {"r", "R"})
    if not files:
        return (
            Result()
            if force
            else usage_error("rm", "missing operand\nTry 'rm --help' for more information.")
        )
    code, err = 0, ""
    for f in files:
        if posixpath.normpath(f) == "/":
            code, err = 1, err + "rm: it is dangerous to operate recursively on '/'\n"
            continue
        try:
            model.fs.remove(f, recursive=recursive)
        except FsError as exc:
            if force and exc.reason == "No such file or directory":
                continue
            code, err = 1, err + f"rm: cannot remove '{f}': {exc.reason}\n"
    return Result(code, "", err)


def ln(model: GuestModel, argv: list[str], stdin: str, run: Runner) -> Result:
    """``ln -s [-f] [-n] TARGET LINK`` (hard links are not imitated)."""
    parsed = _flags(argv, "sfnT")
    if parsed is None or "s" not in parsed[0]:
        return not_imitated(" ".join(argv))
    flags, ops = parsed
    if len(ops) != 2:
        return usage_error("ln", "missing file operand" if len(ops) < 2 else "extra operand")
    target, link = ops
    if "n" not in flags and "T" not in flags and model.fs.is_dir(link):
        link = posixpath.join(link, posixpath.basename(target))
    existing = model.fs.lookup(link, follow_last=False)
    if existing is not None:
        if "f" not in flags:
            return usage_error("ln", f"failed to create symbolic link '{link}': {EEXIST}")
        model.fs.remove(link)
    try:
        model.fs.symlink(target, link)
    except FsError as exc:
        return usage_error("ln", f"failed to create symbolic link '{link}': {exc.reason}")
    return Result()


def cat(model: GuestModel, argv: list[str], stdin: str, run: Runner) -> Result:
    """``cat [FILE…]``; ``-`` or no operand reads stdin."""
    out, err, code = "", "", 0
    for f in argv[1:] or ["-"]:
        if f == "-":
            out += stdin
            continue
        try:
            out += model.fs.read(f)
        except FsError as exc:
            code, err = 1, err + f"cat: {f}: {exc.reason}\n"
    return Result(code, out, err)


def tee(model: GuestModel, argv: list[str], stdin: str, run: Runner) -> Result:
    """``tee [-a] FILE…``: copy stdin to the files and to stdout."""
    parsed = _flags(argv, "a")
    if parsed is None:
        return not_imitated(" ".join(argv))
    flags, files = parsed
    code, err = 0, ""
    for f in files:
        try:
            model.fs.write(f, stdin, append="a" in flags)
        except FsError as exc:
            code, err = 1, err + f"tee: {f}: {exc.reason}\n"
    return Result(code, stdin, err)


def parse_mode(spec: str, current: int) -> int | None:
    """Octal (``0755``) or symbolic (``a+r``, ``u=rw,go-w``) mode; None if malformed."""
    if spec.isdigit():
        return int(spec, 8)
    mode = current
    for part in spec.split(","):
        who = ""
        rest = part
        while rest and rest[0] in "ugoa":
            who, rest = who + rest[0], rest[1:]
        if not rest or rest[0] not in "+-=" or set(rest[1:]) - set("rwx"):
            return None
        op, perms = rest[0], rest[1:]
        bits = sum({"r": 4, "w": 2, "x": 1}[p] for p in perms)
        mask = 0
        for w in who or "a":
            for shift in {"u": (6,), "g": (3,), "o": (0,), "a": (6, 3, 0)}[w]:
                mask |= 7 << shift
                mode = mode & ~(7 << shift) if op == "=" else mode
        value = (bits << 6 | bits << 3 | bits) & mask
        mode = mode & ~value if op == "-" else mode | value
    return mode


def chmod(model: GuestModel, argv: list[str], stdin: str, run: Runner) -> Result:
    """``chmod MODE FILE…``."""
    if len(argv) < 3:
        return usage_error("chmod", "missing operand")
    code, err = 0, ""
    for f in argv[2:]:
        node = model.fs.lookup(f)
        if node is None:
            code, err = 1, err + f"chmod: cannot access '{f}': No such file or directory\n"
            continue
        mode = parse_mode(argv[1], node.mode)
        if mode is None:
            return usage_error("chmod", f"invalid mode: '{argv[1]}'")
        model.fs.chmod(f, mode)
    return Result(code, "", err)


def mkdir(model: GuestModel, argv: list[str], stdin: str, run: Runner) -> Result:
    """``mkdir [-p] [-m MODE] DIR…``."""
    args = argv[1:]
    parents, mode = False, 0o755
    dirs: list[str] = []
    while args:
        a = args.pop(0)
        if a == "-p":
            parents = True
        elif a == "-m" and args:
            mode = parse_mode(args.pop(0), 0o755) or 0o755
        else:
            dirs.append(a)
    code, err = 0, ""
    for d in dirs:
        try:
            model.fs.mkdir(d, parents=parents, mode=mode)
        except FsError as exc:
            code, err = 1, err + f"mkdir: cannot create directory '{d}': {exc.reason}\n"
    return Result(code, "", err)


def hostname(model: GuestModel, argv: list[str], stdin: str, run: Runner) -> Result:
    """``hostname [-s|-f|-I]``: the kernel hostname set at boot from /etc/hostname.

    ``-s`` cuts at the first dot, ``-f`` is the name itself (the guest's /etc/hosts maps
    127.0.1.1 to the bare hostname, so there is no domain), ``-I`` lists the interfaces'
    addresses except loopback and link-local, each followed by a space (hostname.c).
    """
    name = model.runtime.hostname if model.runtime else "localhost"
    if argv[1:] in ([], ["-f"], ["--fqdn"], ["--long"]):
        return Result(0, name + "\n")
    if argv[1:] in (["-s"], ["--short"]):
        return Result(0, name.split(".", 1)[0] + "\n")
    if argv[1:] in (["-I"], ["--all-ip-addresses"]):
        found = [link.ipv4[0] for link in netinfo.links(model) if link.peer and link.ipv4]
        return Result(0, "".join(a + " " for a in found) + "\n")
    return not_imitated(" ".join(argv))
