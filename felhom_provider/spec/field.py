"""The ``Field`` type: one declared input of a resource, written once.

A resource's field table (``spec.guest``, ``spec.golden``) lists every input with its
stack-config key (which is also the resource input and output name: one name end to end),
type, default, validator and change kind. Parsing the stack config, ``check``, the diff,
``to_props``/outputs and the engine's spec construction all walk the table, so a field is
never described twice and the rules cannot disagree.

Validators are plain functions ``value -> normalised value`` that raise ``ValueError`` with
the reason; every string validator matches the whole value (``re.fullmatch``) and rejects
control characters, and every number has both bounds.
"""

from __future__ import annotations

import enum
import keyword
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Validator = Callable[[Any], Any]

#: Any ASCII control character (C0 and DEL) and the Unicode line/paragraph separators.
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]")


class FieldError(ValueError):
    """A validation failure below a field: ``path`` is the sub-key (``.gw``, ``[2]``)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(reason)
        self.path = path
        self.reason = reason


def nested(path: str, exc: ValueError) -> FieldError:
    """Prefix ``path`` to a (possibly nested) validation failure."""
    if isinstance(exc, FieldError):
        return FieldError(path + exc.path, exc.reason)
    return FieldError(path, str(exc))


class Change(enum.Enum):
    """What changing a field on an existing resource does."""

    REPLACE = "replaces the resource"
    ROLL = (
        "rolled in place: a new root filesystem from the new archive, data mounts, identity "
        "and host keys kept"
    )
    LIVE = "updated in place, no restart"
    RESTART = "updated in place; a running guest restarts (or waits: `felhom:restarts`)"
    FIXED = "fixed at create; later changes are ignored"
    REFUSED = "refused after create"


@dataclass(frozen=True)
class Field:
    """One input of a resource.

    ``key`` is the stack-config key, the resource input and the output name. ``default``
    of ``None`` with ``required=False`` means optional; ``observed`` marks a field that PVE
    fills when unset (the VMID, the MAC): an unset input then never differs from the
    output. ``stack`` is False for inputs the program sets from stack-level keys (the
    owner, the archive) rather than from a guest entry. ``output`` is False for inputs
    that are not exported (a secret-like list is still fine to export; the marker is not).
    """

    key: str
    type: str
    doc: str
    validate: Validator
    change: Change
    default: Any = None
    required: bool = False
    observed: bool = False
    stack: bool = True
    output: bool = True
    default_doc: str = ""

    @property
    def attr(self) -> str:
        """The Python attribute name of the engine spec: the key in snake_case (a Python
        keyword such as ``import`` gets a trailing ``_``)."""
        name = snake(self.key)
        return f"{name}_" if keyword.iskeyword(name) else name


def snake(key: str) -> str:
    """``rootfsGiB`` -> ``rootfs_gib``, ``sshAuthorizedKeys`` -> ``ssh_authorized_keys``."""
    key = re.sub(r"GiB$", "Gib", key)
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


@dataclass(frozen=True)
class Table:
    """The ordered fields of one resource, by key."""

    fields: tuple[Field, ...]
    by_key: dict[str, Field] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_key", {f.key: f for f in self.fields})
        if len(self.by_key) != len(self.fields):
            raise ValueError("a field is declared twice")

    def keys(self, *, stack_only: bool = False) -> list[str]:
        """Input keys in declaration order (only those a stack entry may set, if asked)."""
        return [f.key for f in self.fields if f.stack or not stack_only]

    def of(self, change: Change) -> frozenset[str]:
        """The keys whose change kind is ``change``."""
        return frozenset(f.key for f in self.fields if f.change is change)


# -- validators -----------------------------------------------------------------------------


def plain_text(value: Any, *, max_len: int = 255) -> str:
    """A non-empty single-line string without control characters or surrounding spaces."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"must be a non-empty string, got {value!r}")
    if _CONTROL.search(value):
        raise ValueError(f"{value!r} contains a control character (newline, tab, ...)")
    if value != value.strip():
        raise ValueError(f"{value!r} has leading or trailing spaces")
    if len(value) > max_len:
        raise ValueError(f"is longer than {max_len} characters")
    return value


def pattern(regex: str, hint: str, *, max_len: int = 255, flags: int = 0) -> Callable[[Any], str]:
    """A full-match string validator (``re.fullmatch``: a trailing newline never passes)."""
    compiled = re.compile(regex, flags)

    def check(value: Any) -> str:
        text = plain_text(value, max_len=max_len)
        if not compiled.fullmatch(text):
            raise ValueError(f"{text!r} is not valid: {hint}")
        return text

    return check


def integer(minimum: int, maximum: int) -> Callable[[Any], int]:
    """A whole number within ``[minimum, maximum]``; whole floats (the wire's) accepted."""

    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"must be an integer, got {value!r}")
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(f"must be a whole number, got {value!r}")
        number = int(value)
        if not minimum <= number <= maximum:
            raise ValueError(f"must be between {minimum} and {maximum}, got {number}")
        return number

    return check


def number(minimum: float, maximum: float) -> Validator:
    """A number within ``[minimum, maximum]``; whole values come back as ints."""

    def check(value: Any) -> float | int:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"must be a number, got {value!r}")
        if not minimum <= value <= maximum:
            raise ValueError(f"must be between {minimum:g} and {maximum:g}, got {value!r}")
        return int(value) if float(value).is_integer() else float(value)

    return check


def boolean(value: Any) -> bool:
    """``true``/``false`` only (no 0/1, no strings)."""
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, got {value!r}")
    return value


def one_of(*choices: str) -> Validator:
    """One of a fixed set of strings."""

    def check(value: Any) -> str:
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}, got {value!r}")
        return str(value)

    return check


def str_list(
    item: Validator, *, max_items: int, unique_sorted: bool = True
) -> Callable[[Any], list[str]]:
    """A list of strings, each checked by ``item``; sorted and de-duplicated by default."""

    def check(value: Any) -> list[str]:
        if not isinstance(value, list | tuple):
            raise ValueError(f"must be a list, got {type(value).__name__}")
        if len(value) > max_items:
            raise ValueError(f"at most {max_items} entries, got {len(value)}")
        items: list[str] = []
        for index, raw in enumerate(value):
            try:
                items.append(item(raw))
            except ValueError as exc:
                raise nested(f"[{index}]", exc) from None
        return sorted(set(items)) if unique_sorted else items

    return check


def sub_object(fields: Sequence[Field]) -> Callable[[Any], dict[str, Any]]:
    """An object whose keys are ``fields`` (unknown keys refused, defaults filled in)."""
    known = {f.key: f for f in fields}

    def check(value: Any) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise ValueError(f"must be an object with keys {sorted(known)}")
        unknown = sorted(set(value) - set(known))
        if unknown:
            raise ValueError(f"unknown key {unknown[0]!r} (known: {sorted(known)})")
        out: dict[str, Any] = {}
        for key, fld in known.items():
            raw = value.get(key, fld.default)
            if raw is None:
                if fld.required:
                    raise FieldError(f".{key}", "is required")
                continue
            try:
                out[key] = fld.validate(raw)
            except ValueError as exc:
                raise nested(f".{key}", exc) from None
        return out

    return check
