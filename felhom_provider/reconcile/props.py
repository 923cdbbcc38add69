"""Small pure parsers for the pct.conf values the engine reads back.

Kept here rather than in the client so the planning functions stay pure and testable on
plain data: property strings (``name=eth0,bridge=vmbr0``), sizes (``8G``), features, the
raw ``pct.conf`` text that ``vzdump/extractconfig`` returns, and the ownership marker.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from felhom_provider.reconcile.model import MARKER_PREFIX

GIB = 1024**3
_SIZE_RE = re.compile(r"^(\d+(?:\.\d+)?)([KMGT]?)$")
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": GIB, "T": 1024**4}
MP_KEY_RE = re.compile(r"^mp(\d+)$")


def parse_property_string(text: str, default_key: str | None = None) -> dict[str, str]:
    """Split ``a=1,b=2``; a leading bare item is stored under ``default_key`` (e.g. volume).

    PVE prints the default key first without ``key=`` (pve-common ``print_property_string``).
    """
    out: dict[str, str] = {}
    for i, part in enumerate(p for p in str(text).split(",") if p):
        if "=" in part:
            key, _, value = part.partition("=")
            out[key.strip()] = value.strip()
        elif i == 0 and default_key:
            out[default_key] = part.strip()
        else:
            out[part.strip()] = ""
    return out


def format_property_string(items: Mapping[str, str], default_key: str | None = None) -> str:
    """Inverse of :func:`parse_property_string`, default key first, rest in given order."""
    parts = []
    if default_key and default_key in items:
        parts.append(items[default_key])
    parts += [f"{k}={v}" for k, v in items.items() if k != default_key]
    return ",".join(parts)


def size_to_bytes(text: str) -> int:
    """PVE size (``8G``, ``512M``, ``10T``; no unit means bytes) to bytes."""
    match = _SIZE_RE.match(str(text).strip())
    if not match:
        raise ValueError(f"not a PVE size: {text!r}")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def volume_size_gib(prop: str) -> float | None:
    """The ``size=`` of a rootfs/mpN property string in GiB, or None when absent."""
    size = parse_property_string(prop, "volume").get("size")
    return size_to_bytes(size) / GIB if size else None


def volume_storage(prop: str) -> str:
    """The storage id of a rootfs/mpN volume (``local-lvm:vm-1-disk-0`` -> ``local-lvm``)."""
    return parse_property_string(prop, "volume").get("volume", "").partition(":")[0]


def parse_features(text: str | None) -> dict[str, str]:
    """``nesting=1,keyctl=1`` -> ``{"nesting": "1", "keyctl": "1"}``."""
    return parse_property_string(text or "")


def as_int(value: Any, default: int = 0) -> int:
    """Config numbers arrive as ints or strings (PVE's JSON is not strict about it)."""
    if value is None or value == "":
        return default
    return int(str(value).strip())


def as_bool(value: Any) -> bool:
    """PVE booleans: ``1``/``0`` as ints or strings."""
    return str(value).strip() in ("1", "true", "yes", "on")


def parse_pct_conf(text: str) -> dict[str, str]:
    """Parse the main section of a raw ``pct.conf`` (as extractconfig returns it).

    Leading ``#`` comment lines are the description (``Config.pm`` ``write_pct_config``
    writes them through ``encode_text``, i.e. %-escaped), joined with newlines. Snapshot and
    pending sections (``[name]``) are ignored; raw ``lxc.*`` lines are kept as keys.
    """
    conf: dict[str, str] = {}
    description: list[str] = []
    for raw in str(text).splitlines():
        line = raw.rstrip()
        if line.startswith("["):
            break
        if line.startswith("#"):
            description.append(unquote(line[1:]))
            continue
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        if sep:
            conf[key.strip()] = value.strip()
    if description:
        conf["description"] = "\n".join(description)
    return conf


def owner_of(config: Mapping[str, Any]) -> str | None:
    """The owner named by the marker in a CT config's description, or None."""
    for raw in str(config.get("description") or "").splitlines():
        line = raw.strip()
        if line.startswith(MARKER_PREFIX):
            return line[len(MARKER_PREFIX) :].strip()
    return None


def split_tags(value: Any) -> tuple[str, ...]:
    """PVE tag lists are separated by ``;`` (also ``,`` and spaces on input)."""
    return tuple(t for t in re.split(r"[;, ]+", str(value or "").strip()) if t)


def mount_keys(config: Mapping[str, Any]) -> list[tuple[int, str]]:
    """``(index, value)`` for every ``mpN`` key, ordered by index."""
    found = []
    for key, value in config.items():
        match = MP_KEY_RE.match(str(key))
        if match:
            found.append((int(match.group(1)), str(value)))
    return sorted(found)
