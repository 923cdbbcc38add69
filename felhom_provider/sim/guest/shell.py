"""The guest's command interpreter: argv execution and a small ``sh -c`` subset.

``run(model, argv, stdin)`` is what ``pct exec <vmid> -- argv…`` reaches: PVE runs
``lxc-attach -- argv`` and ``exec``s it, so the exit status passes through unchanged
(design §4.14). There is no shell unless argv starts one.

The ``sh -c`` subset is dash's syntax for: words with single/double quotes and backslashes,
``;``, newlines, ``&&``, ``||``, ``|``, redirections ``>``, ``>>``, ``<``, ``2>``, ``2>&1``,
leading ``NAME=value`` assignments, ``#`` comments, ``$?`` (the last exit status),
``exit [N]``, and pathname expansion of unquoted ``*?[`` against the guest filesystem (an
unmatched pattern stays literal, as in dash). Other parameter expansion (``$``), command
substitution, here-documents, background jobs, control structures and functions are not
imitated and answer with exit status 127.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

from felhom_provider.sim.guest.commands import TABLE
from felhom_provider.sim.guest.fs import FsError
from felhom_provider.sim.guest.model import GuestModel
from felhom_provider.sim.guest.registry import Result, not_imitated

SHELLS = {"sh", "bash", "dash"}
PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
# Stands for ``$?`` in a tokenized word until the command runs (the only parameter expanded).
STATUS = "\x00"
_OPERATORS = ("&&", "||", "2>&1", "2>", ">>", ";", "|", ">", "<", "\n", "&")


class NotImitatedError(Exception):
    """The script uses shell syntax outside the imitated subset."""


@dataclass
class Word:
    """A shell word; ``glob`` is set when it holds an unquoted ``*``, ``?`` or ``[``."""

    text: str
    glob: bool = False
    op: bool = False


def tokenize(script: str) -> list[Word]:
    """Split a script into words and operators, honouring quotes like dash does."""
    words: list[Word] = []
    i, n = 0, len(script)
    cur: list[str] = []
    started = glob = False

    def flush() -> None:
        nonlocal cur, started, glob
        if started:
            words.append(Word("".join(cur), glob))
        cur, started, glob = [], False, False

    while i < n:
        c = script[i]
        op = None
        if c == "2" and not started:
            # "2>" is a redirection only at the start of a word ("foo2>x" is foo2 then ">").
            op = next((o for o in ("2>&1", "2>") if script.startswith(o, i)), None)
        elif c != "2":
            op = next((o for o in _OPERATORS if o[0] != "2" and script.startswith(o, i)), None)
        if op is not None:
            flush()
            if op == "&":
                raise NotImitatedError("background jobs (&)")
            words.append(Word(op, op=True))
            i += len(op)
            continue
        if c in " \t":
            flush()
        elif c == "#" and not started:
            while i < n and script[i] != "\n":
                i += 1
            continue
        elif c == "'":
            end = script.find("'", i + 1)
            if end < 0:
                raise NotImitatedError("unterminated quote")
            cur.append(script[i + 1 : end])
            started, i = True, end
        elif c == '"':
            i += 1
            while i < n and script[i] != '"':
                if script.startswith("$?", i):
                    cur.append(STATUS)
                    i += 2
                    continue
                if script[i] in "$`":
                    raise NotImitatedError("parameter expansion or command substitution")
                if script[i] == "\\" and i + 1 < n and script[i + 1] in '"\\$`':
                    i += 1
                cur.append(script[i])
                i += 1
            if i >= n:
                raise NotImitatedError("unterminated quote")
            started = True
        elif c == "\\" and i + 1 < n:
            cur.append(script[i + 1])
            started, i = True, i + 1
        elif script.startswith("$?", i):
            cur.append(STATUS)
            started, i = True, i + 1
        elif c in "$`(){}":
            raise NotImitatedError(f"shell syntax {c!r}")
        else:
            glob = glob or c in "*?["
            cur.append(c)
            started = True
        i += 1
    flush()
    return words


@dataclass
class SimpleCommand:
    """Words and redirections of one command in a pipeline."""

    words: list[Word] = field(default_factory=list)
    redirects: list[tuple[str, str]] = field(default_factory=list)


def _parse(words: list[Word]) -> list[tuple[str, list[SimpleCommand]]]:
    """``[(connector, pipeline)]`` where connector is ``;``, ``&&`` or ``||``."""
    out: list[tuple[str, list[SimpleCommand]]] = []
    connector, pipeline, cmd = ";", [], SimpleCommand()
    it = iter(words)
    for w in it:
        if w.op and w.text in (";", "\n", "&&", "||"):
            pipeline.append(cmd)
            out.append((connector, pipeline))
            connector, pipeline, cmd = (";" if w.text == "\n" else w.text), [], SimpleCommand()
        elif w.op and w.text == "|":
            pipeline.append(cmd)
            cmd = SimpleCommand()
        elif w.op and w.text == "2>&1":
            cmd.redirects.append(("2>&1", ""))
        elif w.op:
            target = next(it, None)
            if target is None or target.op:
                raise NotImitatedError("redirection without a target")
            cmd.redirects.append((w.text, target.text))
        else:
            cmd.words.append(w)
    pipeline.append(cmd)
    out.append((connector, pipeline))
    return [(c, p) for c, p in out if any(x.words or x.redirects for x in p)]


def run_script(model: GuestModel, script: str, stdin: str = "", *, errexit: bool = False) -> Result:
    """Run a ``sh -c`` script; errors are reported like dash (``sh: 1: …``)."""
    try:
        sequence = _parse(tokenize(script))
    except NotImitatedError as exc:
        return not_imitated(f"sh -c with {exc}")
    out, err, last = "", "", 0
    for connector, pipeline in sequence:
        if (connector == "&&" and last != 0) or (connector == "||" and last == 0):
            continue
        if len(pipeline) == 1 and pipeline[0].words and pipeline[0].words[0].text == "exit":
            return _exit(pipeline[0], last, Result(last, out, err))
        data = stdin
        res = Result()
        for simple in pipeline:
            res = _run_simple(model, simple, data, last)
            data = res.stdout
            err += res.stderr
        out += res.stdout
        last = res.code
        if errexit and last != 0 and connector == ";":
            break
    return Result(last, out, err)


def _exit(simple: SimpleCommand, status: int, so_far: Result) -> Result:
    """dash's ``exit [N]``: end the script with N (default: the last status), N mod 256."""
    args = [w.text.replace(STATUS, str(status)) for w in simple.words[1:]]
    if not args:
        return so_far
    if len(args) > 1 or not args[0].isdigit():
        return so_far.then(Result(2, "", f"sh: 1: exit: Illegal number: {args[0]}\n"))
    return Result(int(args[0]) % 256, so_far.stdout, so_far.stderr)


def _run_simple(model: GuestModel, simple: SimpleCommand, stdin: str, status: int) -> Result:
    words: list[str] = []
    for w in simple.words:
        text = w.text.replace(STATUS, str(status))
        words.extend((model.fs.glob(text) or [text]) if w.glob else [text])
    while words and "=" in words[0] and not words[0].startswith("="):
        words.pop(0)  # NAME=value prefix: the environment is not modelled
    redirects = [(op, target.replace(STATUS, str(status))) for op, target in simple.redirects]
    for op, target in redirects:
        if op == "<":
            try:
                stdin = model.fs.read(target)
            except FsError:
                return Result(2, stderr=f"sh: 1: cannot open {target}: No such file\n")
    if words and words[0] == "set":
        return (
            Result()
            if all(a.startswith("-") and set(a[1:]) <= set("eux") for a in words[1:])
            else not_imitated("set " + " ".join(words[1:]))
        )
    res = run(model, words, stdin, in_shell=True) if words else Result()
    for op, target in redirects:
        if op == "2>&1":
            res = Result(res.code, res.stdout + res.stderr, "")
        elif op in (">", ">>", "2>"):
            text = res.stderr if op == "2>" else res.stdout
            if target != "/dev/null":
                try:
                    model.fs.write(target, text, append=op == ">>")
                except FsError:
                    return Result(
                        2, res.stdout, f"sh: 1: cannot create {target}: Directory nonexistent\n"
                    )
            res = Result(
                res.code, "" if op != "2>" else res.stdout, res.stderr if op != "2>" else ""
            )
    return res


def _locate(model: GuestModel, name: str) -> str | None:
    if "/" in name:
        return name if model.fs.is_file(name) else None
    for directory in PATH:
        candidate = posixpath.join(directory, name)
        if model.fs.is_file(candidate):
            return candidate
    return None


def run(model: GuestModel, argv: list[str], stdin: str = "", *, in_shell: bool = False) -> Result:
    """Execute argv in the guest; the result's code is the program's exit status."""
    if not argv:
        return not_imitated("an empty command")
    name = posixpath.basename(argv[0])
    entry = TABLE.get(name)
    builtin = in_shell and entry is not None and entry.builtin
    if entry is None and name not in SHELLS and name != "env":
        return not_imitated(name)
    if (
        not builtin
        and name not in SHELLS
        and _locate(model, argv[0] if "/" in argv[0] else name) is None
    ):
        if in_shell:
            return Result(127, stderr=f"sh: 1: {argv[0]}: not found\n")
        # lxc-attach's exec failure (src/lxc/attach.c) reports ENOENT and exits 127.
        return Result(
            127,
            stderr=f'lxc-attach: Failed to exec "{argv[0]}": No such file or directory\n',
        )
    if name == "env":
        rest = argv[1:]
        while rest and "=" in rest[0]:
            rest = rest[1:]
        return (
            run(model, rest, stdin, in_shell=in_shell)
            if rest
            else not_imitated("env without a command")
        )
    if name in SHELLS:
        return _run_shell(model, argv, stdin)
    assert entry is not None
    return entry.handler(model, argv, stdin, run)


def _run_shell(model: GuestModel, argv: list[str], stdin: str) -> Result:
    errexit = False
    args = argv[1:]
    while args and args[0].startswith("-") and args[0] != "-c":
        flags = args.pop(0)[1:]
        if "c" in flags:
            args.insert(0, "-c")
        errexit = errexit or "e" in flags
        if set(flags) - set("eucx"):
            return not_imitated(f"{argv[0]} {' '.join(argv[1:])}")
    if len(args) >= 2 and args[0] == "-c":
        return run_script(model, args[1], stdin, errexit=errexit)
    if not args:
        return run_script(model, stdin, "", errexit=errexit)
    return not_imitated(f"{argv[0]} {' '.join(argv[1:])}")
