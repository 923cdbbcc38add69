"""The field part of ``docs/stack-config.md``, generated from the declared tables.

``python -m felhom_provider.spec.doc docs/stack-config.md`` rewrites the part between the
``BEGIN``/``END`` markers; a unit test fails when the document and the tables disagree.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from felhom_provider.spec.field import Field
from felhom_provider.spec.golden import GOLDEN
from felhom_provider.spec.guest import GUEST, MOUNT_FIELDS, NETWORK_FIELDS, STARTUP_FIELDS
from felhom_provider.spec.stack import STACK

BEGIN = "<!-- BEGIN generated from felhom_provider/spec (python -m felhom_provider.spec.doc) -->"
END = "<!-- END generated -->"


def _default(fld: Field) -> str:
    if fld.default_doc:
        return fld.default_doc
    if fld.required:
        return "required"
    if fld.default is None:
        return "unset"
    return f"`{_json(fld.default)}`"


def _json(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_json(v) for v in value) + "]"
    return str(value)


def table(fields: Iterable[Field], *, change: bool = True) -> list[str]:
    """One markdown table: key, type, default, change behaviour, meaning."""
    columns = ["key", "type", "default", *(["on change"] if change else []), "meaning"]
    rows = ["| " + " | ".join(columns) + " |", "| --- " * len(columns) + "|"]
    for fld in fields:
        cells = [f"`{fld.key}`", fld.type, _default(fld)]
        if change:
            cells.append(fld.change.value)
        cells.append(fld.doc)
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def render() -> str:
    """The generated section (without the markers)."""
    out = [
        "### Stack-level keys (`felhom:<key>`)",
        "",
        *table(STACK.fields, change=False),
        "",
        "### `felhom:guests[]`: one entry per guest",
        "",
        "Each key is also the resource input and the output of the same name.",
        "",
        *table(f for f in GUEST.fields if f.stack),
        "",
        "Set by the program from stack-level keys (not per guest): "
        + ", ".join(f"`{f.key}`" for f in GUEST.fields if not f.stack)
        + ".",
        "",
        "#### `network`",
        "",
        *table(NETWORK_FIELDS),
        "",
        "#### `startup`",
        "",
        *table(STARTUP_FIELDS),
        "",
        "#### `mounts[]`",
        "",
        *table(MOUNT_FIELDS),
        "",
        "### `felhom:golden.build`",
        "",
        *table(f for f in GOLDEN.fields if f.stack),
        "",
    ]
    return "\n".join(out)


def splice(document: str) -> str:
    """``document`` with its generated section replaced by :func:`render`."""
    head, sep, rest = document.partition(BEGIN)
    _, sep2, tail = rest.partition(END)
    if not sep or not sep2:
        raise ValueError(f"the document lacks the markers {BEGIN!r} ... {END!r}")
    return f"{head}{BEGIN}\n{render()}\n{END}{tail}"


def main(argv: list[str]) -> int:
    """Rewrite the generated section of the file named in ``argv``."""
    path = Path(argv[1] if len(argv) > 1 else "docs/stack-config.md")
    path.write_text(splice(path.read_text()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
