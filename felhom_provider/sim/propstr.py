"""PVE property strings (``name=eth0,bridge=vmbr0,...``): parse and print.

Printing follows pve-common ``JSONSchema.pm`` ``print_property_string``: the default key
first without ``key=``, then the keys that are not optional, then the others, each group in
sorted order. Booleans print as ``1``/``0``. Parsing is ``parse_property_string``'s rules:
comma-separated ``key=value`` items, a bare item is the default key, unknown and duplicate
keys are errors.
"""

from __future__ import annotations

from typing import Any

Spec = dict[str, Any]
"""One parameter's schema, in the shape PVE's apidata uses (type, format, optional, ...)."""


class PropertyStringError(ValueError):
    """A property string does not fit its format; ``str()`` is PVE-like text."""


def default_key(fmt: dict[str, Spec]) -> str | None:
    """The sub-key that may be written without ``key=`` (``volume`` for mount points)."""
    for key, spec in fmt.items():
        if spec.get("default_key"):
            return key
    return None


def parse(text: str, fmt: dict[str, Spec]) -> dict[str, str]:
    """Split ``text`` into raw sub-values; checks keys, not the values' types."""
    result: dict[str, str] = {}
    dkey = default_key(fmt)
    for item in text.split(","):
        if item == "":
            continue
        if "=" in item:
            key, value = item.split("=", 1)
        elif dkey is not None:
            key, value = dkey, item
        else:
            raise PropertyStringError(
                f"value without key, but schema does not define a default key: {item}"
            )
        if key not in fmt:
            raise PropertyStringError(f"invalid key in comma-separated list property: {key}")
        if key in result:
            raise PropertyStringError(f"duplicate key in comma-separated list property: {key}")
        result[key] = value
    for key, spec in fmt.items():
        if not spec.get("optional") and key not in result:
            raise PropertyStringError(f"{key}: property is missing and it is not optional")
    return result


def _fmt_value(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def render(values: dict[str, Any], fmt: dict[str, Spec]) -> str:
    """Print ``values`` in PVE's order (default key, required keys, the rest; each sorted)."""
    dkey = default_key(fmt)
    parts: list[str] = []
    if dkey is not None and dkey in values:
        parts.append(_fmt_value(values[dkey]))
    required = sorted(k for k in values if k != dkey and not fmt.get(k, {}).get("optional"))
    optional = sorted(k for k in values if k != dkey and fmt.get(k, {}).get("optional"))
    for key in required + optional:
        parts.append(f"{key}={_fmt_value(values[key])}")
    return ",".join(parts)


_SIZE_UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str) -> int:
    """Bytes from a PVE size (``8G``, ``512M``, ``1.5T``, ``1024``): no unit means bytes."""
    text = text.strip()
    unit = text[-1:].upper()
    if unit in _SIZE_UNITS:
        return int(float(text[:-1]) * _SIZE_UNITS[unit])
    return int(float(text))


def format_size(size: int) -> str:
    """PVE's ``format_size``: the largest unit that divides the byte count evenly."""
    for unit in ("T", "G", "M", "K"):
        mult = _SIZE_UNITS[unit]
        if size >= mult and size % mult == 0:
            return f"{size // mult}{unit}"
    return str(size)
