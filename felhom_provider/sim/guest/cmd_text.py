"""Text tools of the guest: ``wc`` and ``head``/``tail`` (GNU coreutils 9.7).

``wc [-l] [-w] [-m] [-c] [FILE…]``: counts in the order lines, words, characters, bytes;
numbers right-aligned to one width (wc.c ``compute_number_width``: the digits of the total
size of the regular files, at least 7 when an input is not a regular file such as a pipe;
a single count of a single input is not padded); a ``total`` line for several files.

``head``/``tail`` ``[-n [-+]N | -N] [-c [-+]N] [-q|-v] [FILE…]``: ``==> FILE <==`` headers
between several files; ``tail -f``/``-F`` (following a growing file) is not imitated.
A file that cannot be read prints ``cannot open 'X' for reading: …`` and exits 1.
"""

from __future__ import annotations

from felhom_provider.sim.guest.fs import FsError
from felhom_provider.sim.guest.model import GuestModel
from felhom_provider.sim.guest.registry import Result, Runner, not_imitated, usage_error


def read_inputs(
    model: GuestModel, program: str, files: list[str], stdin: str
) -> tuple[list[tuple[str, str | None]], str]:
    """``[(name, text or None on error)]`` and the error text; ``-`` or none reads stdin."""
    found: list[tuple[str, str | None]] = []
    err = ""
    for f in files or ["-"]:
        if f == "-":
            found.append(("-", stdin))
            continue
        try:
            found.append((f, model.fs.read(f)))
        except FsError as exc:
            verb = "" if program == "wc" else "cannot open "
            quoted = f if program == "wc" else f"'{f}' for reading"
            err += f"{program}: {verb}{quoted}: {exc.reason}\n"
            found.append((f, None))
    return found, err


def wc(model: GuestModel, argv: list[str], stdin: str, run: Runner) -> Result:
    """``wc`` with ``-l``, ``-w``, ``-m``, ``-c`` (default ``-lwc``)."""
    long_names = {"--lines": "l", "--words": "w", "--chars": "m", "--bytes": "c"}
    which: set[str] = set()
    files: list[str] = []
    for a in argv[1:]:
        if a in long_names:
            which.add(long_names[a])
        elif a.startswith("-") and a != "-" and set(a[1:]) <= set("lwmc"):
            which |= set(a[1:])
        elif a.startswith("-") and a != "-":
            return not_imitated(" ".join(argv))
        else:
            files.append(a)
    order = [k for k in "lwmc" if k in (which or {"l", "w", "c"})]
    inputs, err = read_inputs(model, "wc", files, stdin)
    rows: list[tuple[list[int], str | None]] = []
    totals = [0] * len(order)
    for name, text in inputs:
        if text is None:
            continue
        counts = [_count(k, text) for k in order]
        totals = [a + b for a, b in zip(totals, counts, strict=True)]
        rows.append((counts, None if name == "-" else name))
    if len(inputs) > 1:
        rows.append((totals, "total"))
    width = _width(order, inputs)
    out = ""
    for counts, label in rows:
        line = " ".join(f"{c:>{width}}" for c in counts)
        out += line + (f" {label}" if label is not None else "") + "\n"
    return Result(1 if err else 0, out, err)


def _count(kind: str, text: str) -> int:
    if kind == "l":
        return text.count("\n")
    if kind == "w":
        return len(text.split())
    if kind == "m":
        return len(text)
    return len(text.encode())


def _width(order: list[str], inputs: list[tuple[str, str | None]]) -> int:
    # wc.c: one count of one input prints unpadded; otherwise compute_number_width.
    if len(order) == 1 and len(inputs) == 1:
        return 1
    minimum, regular_total = 1, 0
    for name, text in inputs:
        if text is None:
            continue
        if name == "-":
            minimum = 7
        else:
            regular_total += len(text.encode())
    return max(minimum, len(str(regular_total)))


def _head_tail_args(argv: list[str]) -> tuple[str, str, str, list[str]] | None:
    """(unit ``n``/``c``, count text, header mode, files); None when not imitated."""
    unit, count, headers = "n", "10", ""
    files: list[str] = []
    args = argv[1:]
    while args:
        a = args.pop(0)
        if a in ("-n", "-c", "--lines", "--bytes") and args:
            unit, count = a.lstrip("-")[0], args.pop(0)
        elif a.startswith(("--lines=", "--bytes=")):
            unit, count = a[2], a.split("=", 1)[1]
        elif len(a) > 2 and a[:2] in ("-n", "-c"):
            unit, count = a[1], a[2:]
        elif len(a) > 1 and a[0] == "-" and a[1:].isdigit():
            unit, count = "n", a[1:]
        elif a in ("-q", "--quiet", "--silent", "-v", "--verbose"):
            headers = "q" if a in ("-q", "--quiet", "--silent") else "v"
        elif a.startswith("-") and a != "-":
            return None
        else:
            files.append(a)
    return unit, count, headers, files


def head(model: GuestModel, argv: list[str], stdin: str, run: Runner) -> Result:
    """``head``: the first N lines/bytes, or all but the last N with ``-n -N``."""
    return _head_tail(model, argv, stdin, tail=False)


def tail(model: GuestModel, argv: list[str], stdin: str, run: Runner) -> Result:
    """``tail``: the last N lines/bytes, or from line/byte N on with ``-n +N``."""
    if any(a in ("-f", "-F", "--follow") or a.startswith("--follow=") for a in argv[1:]):
        return not_imitated("tail -f (following a file)")
    return _head_tail(model, argv, stdin, tail=True)


def _head_tail(model: GuestModel, argv: list[str], stdin: str, *, tail: bool) -> Result:
    program = "tail" if tail else "head"
    parsed = _head_tail_args(argv)
    if parsed is None:
        return not_imitated(" ".join(argv))
    unit, count, headers, files = parsed
    sign = count[0] if count[:1] in ("+", "-") else ""
    if not count.lstrip("+-").isdigit():
        what = "lines" if unit == "n" else "bytes"
        return usage_error(program, f"invalid number of {what}: '{count}'")
    n = int(count.lstrip("+-"))
    inputs, err = read_inputs(model, program, files, stdin)
    show = headers == "v" or (headers != "q" and len(inputs) > 1)
    out = ""
    for name, text in inputs:
        if text is None:
            continue
        if show:
            label = "standard input" if name == "-" else name
            out += ("\n" if out else "") + f"==> {label} <==\n"
        out += _slice(text, unit, n, sign, tail=tail)
    return Result(1 if err else 0, out, err)


def _slice(text: str, unit: str, n: int, sign: str, *, tail: bool) -> str:
    if unit == "c":
        data = text.encode()
        if tail:
            part = data[max(n - 1, 0) :] if sign == "+" else (data[-n:] if n else b"")
        else:
            part = data[: len(data) - n] if sign == "-" else data[:n]
        return part.decode(errors="replace")
    lines = text.splitlines(keepends=True)
    if tail:
        chosen = lines[max(n - 1, 0) :] if sign == "+" else (lines[-n:] if n else [])
    else:
        chosen = lines[: max(len(lines) - n, 0)] if sign == "-" else lines[:n]
    return "".join(chosen)
