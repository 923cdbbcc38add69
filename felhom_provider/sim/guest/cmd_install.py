"""``install`` and ``test``/``[`` in the guest (GNU coreutils behaviour, imitated subset).

``install -m 0644 /dev/stdin /etc/…`` is how the bring-up writes a file from the data it sends
on ``pct exec``'s stdin; ``install -m 0755 -d /etc/apt/keyrings`` is Docker's documented keyring
step. ``test`` covers the file and string predicates the recipe's checks need; ``-a``/``-o``
and parentheses are not imitated.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable

from felhom_provider.sim.guest.cmd_files import parse_mode
from felhom_provider.sim.guest.fs import FsError
from felhom_provider.sim.guest.model import GuestModel
from felhom_provider.sim.guest.registry import Result, Runner, not_imitated, usage_error


def install(model: GuestModel, argv: list[str], stdin: str, run: Runner) -> Result:
    """``install [-d] [-D] [-m MODE] [-o OWNER] [-g GROUP] SRC DEST`` or ``-d DIR…``."""
    args = argv[1:]
    directories = parents = False
    mode: int | None = None
    ops: list[str] = []
    while args:
        a = args.pop(0)
        if a == "-d":
            directories = True
        elif a == "-D":
            parents = True
        elif a in ("-m", "-o", "-g") and args:
            value = args.pop(0)
            if a == "-m":
                mode = parse_mode(value, 0o755)
                if mode is None:
                    return usage_error("install", f"invalid mode '{value}'")
            # Ownership is not modelled; every file belongs to root as in the seed's guests.
        elif a.startswith("-"):
            return not_imitated(" ".join(argv))
        else:
            ops.append(a)
    if directories:
        for d in ops:
            try:
                model.fs.mkdir(d, parents=True, mode=mode if mode is not None else 0o755)
                if mode is not None:
                    model.fs.chmod(d, mode)
            except FsError as exc:
                return usage_error("install", f"cannot create directory '{d}': {exc.reason}")
        return Result() if ops else usage_error("install", "missing file operand")
    if len(ops) != 2:
        return usage_error(
            "install",
            "missing destination file operand" if len(ops) == 1 else "missing file operand",
        )
    src, dest = ops
    if src in ("/dev/stdin", "/proc/self/fd/0"):
        data = stdin
    else:
        try:
            data = model.fs.read(src)
        except FsError as exc:
            return usage_error("install", f"cannot stat '{src}': {exc.reason}")
    if model.fs.is_dir(dest):
        dest = posixpath.join(dest, posixpath.basename(src))
    try:
        if parents:
            model.fs.mkdir(posixpath.dirname(dest), parents=True)
        model.fs.write(dest, data, mode=mode if mode is not None else 0o755)
    except FsError as exc:
        return usage_error("install", f"cannot create regular file '{dest}': {exc.reason}")
    return Result()


_UNARY: dict[str, Callable[[GuestModel, str], bool]] = {
    "-e": lambda m, p: m.fs.exists(p),
    "-f": lambda m, p: m.fs.is_file(p),
    "-d": lambda m, p: m.fs.is_dir(p),
    "-L": lambda m, p: m.fs.is_link(p),
    "-h": lambda m, p: m.fs.is_link(p),
    "-s": lambda m, p: m.fs.is_file(p) and m.fs.read(p) != "",
    "-r": lambda m, p: m.fs.exists(p),
    "-w": lambda m, p: m.fs.exists(p),
    "-x": lambda m, p: (n := m.fs.lookup(p)) is not None and bool(n.mode & 0o111),
}


def _evaluate(model: GuestModel, args: list[str]) -> bool | None:
    if args and args[0] == "!":
        inner = _evaluate(model, args[1:])
        return None if inner is None else not inner
    if len(args) == 0:
        return False
    if len(args) == 1:
        return args[0] != ""
    if len(args) == 2:
        if args[0] == "-n":
            return args[1] != ""
        if args[0] == "-z":
            return args[1] == ""
        fn = _UNARY.get(args[0])
        return None if fn is None else bool(fn(model, args[1]))
    if len(args) == 3:
        left, op, right = args
        if op in ("=", "=="):
            return left == right
        if op == "!=":
            return left != right
        if op in ("-eq", "-ne") and left.lstrip("-").isdigit() and right.lstrip("-").isdigit():
            return (int(left) == int(right)) == (op == "-eq")
    return None


def test(model: GuestModel, argv: list[str], stdin: str, run: Runner) -> Result:
    """``test EXPR`` / ``[ EXPR ]``: status 0 true, 1 false, 2 malformed."""
    args = argv[1:]
    if posixpath.basename(argv[0]) == "[":
        if not args or args[-1] != "]":
            return Result(2, stderr="[: missing ']'\n")
        args = args[:-1]
    verdict = _evaluate(model, args)
    if verdict is None:
        return not_imitated(" ".join(argv))
    return Result(0 if verdict else 1)
