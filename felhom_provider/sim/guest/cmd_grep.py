"""``grep`` in the guest (GNU grep 3.11): the options people use on a config or a log.

Imitated: ``-E`` (extended), ``-F`` (fixed strings), ``-G`` (basic, the default), ``-e PAT``
(repeatable), ``-i``, ``-v``, ``-c``, ``-n``, ``-q``, ``-s``, ``-r``/``-R``, ``-l``, ``-L``,
``-o``, ``-w``, ``-x``, ``-h``/``-H``. Basic regular expressions are translated to Python's
syntax (``\\(``/``\\)``/``\\{``/``\\}``/``\\|``/``\\+``/``\\?`` are the operators, the bare
characters literal; POSIX classes such as ``[[:space:]]`` are expanded). Output and statuses
follow grep(1): ``FILE:`` prefixes with several files or ``-r``, exit 0 when a line was
selected, 1 when none, 2 on an error (unless ``-q`` found a match). ``-r`` walks directories
in name order (GNU grep uses the directory's own order). Context options (``-A``/``-B``/``-C``),
``--include``/``--exclude``, colour and Perl regexps are not imitated.
"""

from __future__ import annotations

import posixpath
import re

from felhom_provider.sim.guest.fs import DIR, FILE
from felhom_provider.sim.guest.model import GuestModel
from felhom_provider.sim.guest.registry import Result, Runner, not_imitated

_FLAGS = set("EFGivcnqsrRlLowxhH")
_LONG = {
    "--extended-regexp": "E", "--fixed-strings": "F", "--basic-regexp": "G",
    "--ignore-case": "i", "--invert-match": "v", "--count": "c", "--line-number": "n",
    "--quiet": "q", "--silent": "q", "--no-messages": "s", "--recursive": "r",
    "--dereference-recursive": "R", "--files-with-matches": "l",
    "--files-without-match": "L", "--only-matching": "o", "--word-regexp": "w",
    "--line-regexp": "x", "--no-filename": "h", "--with-filename": "H",
}  # fmt: skip
_CLASSES = {
    "alpha": "a-zA-Z",
    "digit": "0-9",
    "alnum": "a-zA-Z0-9",
    "upper": "A-Z",
    "lower": "a-z",
    "space": r" \t\n\r\f\v",
    "blank": r" \t",
    "punct": r"!-/:-@\[-`{-~",
    "xdigit": "0-9A-Fa-f",
}
_WORD = "A-Za-z0-9_"
_USAGE = "Usage: grep [OPTION]... PATTERNS [FILE]...\nTry 'grep --help' for more information.\n"


def _bracket(pattern: str, i: int) -> tuple[str, int]:
    """Copy a bracket expression starting at ``pattern[i] == '['``; returns (regex, next i)."""
    j = i + 1
    out = "["
    if j < len(pattern) and pattern[j] == "^":
        out, j = out + "^", j + 1
    if j < len(pattern) and pattern[j] == "]":
        out, j = out + r"\]", j + 1
    while j < len(pattern) and pattern[j] != "]":
        m = re.match(r"\[:(\w+):\]", pattern[j:])
        if m and m.group(1) in _CLASSES:
            out += _CLASSES[m.group(1)]
            j += m.end()
            continue
        out += "\\" + pattern[j] if pattern[j] in "\\[" else pattern[j]
        j += 1
    if j >= len(pattern):
        raise re.error("Unmatched [, [^, [:, [., or [=")
    return out + "]", j + 1


def translate(pattern: str, extended: bool) -> str:
    """A POSIX basic or extended regular expression as a Python one."""
    out = ""
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "[":
            part, i = _bracket(pattern, i)
            out += part
            continue
        if c == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            if not extended and nxt in "(){}|+?":
                out += nxt  # BRE: the escaped form is the operator
            elif nxt == "<":
                out += rf"(?<![{_WORD}])(?=[{_WORD}])"
            elif nxt == ">":
                out += rf"(?<=[{_WORD}])(?![{_WORD}])"
            else:
                out += "\\" + nxt
            i += 2
            continue
        if not extended and c in "(){}|+?":
            out += "\\" + c  # BRE: the bare character is literal
        elif c == "*" and (not out or out.endswith(("(", "|", "^"))) and not extended:
            out += r"\*"  # a leading * is literal in a BRE
        else:
            out += c
        i += 1
    return out


def grep(model: GuestModel, argv: list[str], stdin: str, run: Runner) -> Result:
    """``grep [OPTION…] PATTERNS [FILE…]`` with the options of the module docstring."""
    flags: set[str] = set()
    patterns: list[str] = []
    operands: list[str] = []
    args = argv[1:]
    only_operands = False
    while args:
        a = args.pop(0)
        if only_operands or not a.startswith("-") or a == "-":
            operands.append(a)
        elif a == "--":
            only_operands = True
        elif a in ("-e", "--regexp") and args:
            patterns.append(args.pop(0))
        elif a.startswith("--regexp="):
            patterns.append(a.split("=", 1)[1])
        elif a.startswith("-e") and len(a) > 2:
            patterns.append(a[2:])
        elif a in _LONG:
            flags.add(_LONG[a])
        elif set(a[1:]) <= _FLAGS and not a.startswith("--"):
            flags |= set(a[1:])
        else:
            return not_imitated(" ".join(argv))
    if not patterns:
        if not operands:
            return Result(2, "", _USAGE)
        patterns = operands.pop(0).split("\n")
    try:
        regex = _compile(patterns, flags)
    except re.error as exc:
        return Result(2, "", f"grep: {exc.msg}\n")
    return _Search(model, flags, regex, stdin).run(operands)


def _compile(patterns: list[str], flags: set[str]) -> re.Pattern[str]:
    parts = [
        re.escape(p) if "F" in flags else translate(p, extended="E" in flags) for p in patterns
    ]
    body = "|".join(f"(?:{p})" for p in parts)
    if "x" in flags:
        body = f"^(?:{body})$"
    elif "w" in flags:
        body = rf"(?<![{_WORD}])(?:{body})(?![{_WORD}])"
    return re.compile(body, re.IGNORECASE if "i" in flags else 0)


class _Search:
    def __init__(
        self, model: GuestModel, flags: set[str], regex: re.Pattern[str], stdin: str
    ) -> None:
        self.model = model
        self.stdin = stdin
        self.flags = flags
        self.regex = regex
        self.out: list[str] = []
        self.err = ""
        self.matched = False

    def run(self, operands: list[str]) -> Result:
        recursive = bool(self.flags & {"r", "R"})
        files = operands or (["."] if recursive else ["-"])
        prefix = "H" in self.flags or ("h" not in self.flags and (len(files) > 1 or recursive))
        for f in files:
            self._operand(f, prefix, recursive)
            if self.matched and "q" in self.flags:
                return Result(0)
        code = 0 if self.matched else 1
        if self.err and not ("q" in self.flags and self.matched):
            code = 2
        out = "" if "q" in self.flags else "".join(self.out)
        return Result(code, out, "" if "s" in self.flags else self.err)

    def _operand(self, f: str, prefix: bool, recursive: bool) -> None:
        if f == "-":
            self._text("(standard input)", self.stdin, prefix)
            return
        node = self.model.fs.lookup(f)
        if node is None:
            self.err += f"grep: {f}: No such file or directory\n"
        elif node.kind == DIR and not recursive:
            self.err += f"grep: {f}: Is a directory\n"
        elif node.kind == DIR:
            for name in self.model.fs.listdir(f):
                path = posixpath.join(f, name) if f != "." else name
                child = self.model.fs.lookup(path, follow_last="R" in self.flags)
                if child is not None and child.kind in (DIR, FILE):
                    self._operand(path, prefix, recursive)
        else:
            self._text(f, self.model.fs.read(f), prefix)

    def _text(self, name: str, text: str, prefix: bool) -> None:
        invert = "v" in self.flags
        count = 0
        lead = f"{name}:" if prefix else ""
        for number, line in enumerate(text.splitlines(), 1):
            hits = list(self.regex.finditer(line))
            if bool(hits) == invert:
                continue
            count += 1
            self.matched = True
            if self.flags & {"c", "l", "L", "q"}:
                continue
            num = f"{number}:" if "n" in self.flags else ""
            if "o" in self.flags and not invert:
                self.out.extend(f"{lead}{num}{h.group(0)}\n" for h in hits if h.group(0))
            else:
                self.out.append(f"{lead}{num}{line}\n")
        if ("l" in self.flags and count) or ("L" in self.flags and not count):
            self.out.append(f"{name}\n")
        elif "c" in self.flags and not self.flags & {"l", "L"}:
            self.out.append(f"{lead}{count}\n")
