"""pct.conf text: render, parse, digest and typed views.

Follows pve-container ``Config.pm`` ``write_pct_config``/``parse_pct_config``: description
lines first as ``#`` comments, then ``key: value`` lines in sorted key order, then raw
``lxc.*`` lines, then the ``[pve:pending]`` section (pending values and ``delete: a,b``) when
there is one. The ``digest`` is the SHA-1 of the whole text. Snapshot sections are not
modelled (the simulator never creates them).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from felhom_provider.sim import propstr
from felhom_provider.sim.params import (
    CONFIG_KEYS,
    FEATURES_FORMAT,
    MP_FORMAT,
    NET_FORMAT,
    ROOTFS_FORMAT,
    Spec,
)
from felhom_provider.sim.schema import family_of

_LINE = re.compile(r"^([a-z][a-z_\-]*\d*):\s*(.*?)\s*$")
_RAW_LXC = re.compile(r"^(lxc\.[a-z0-9_.\-]+)(?::\s*|\s*=\s*)(.*?)\s*$")


def key_spec(key: str) -> Spec | None:
    """Schema of a config key, resolving ``net0`` to the ``net[n]`` family."""
    if key in CONFIG_KEYS:
        return CONFIG_KEYS[key]
    fam = family_of(key, CONFIG_KEYS)
    return CONFIG_KEYS[fam] if fam else None


def property_format(key: str) -> dict[str, Spec] | None:
    """The property-string format of ``key`` (net/mp/rootfs/features), if it has one."""
    if key == "rootfs":
        return ROOTFS_FORMAT
    if key == "features":
        return FEATURES_FORMAT
    if re.fullmatch(r"mp\d+", key):
        return MP_FORMAT
    if re.fullmatch(r"net\d+", key):
        return NET_FORMAT
    return None


def _encode_comment(line: str) -> str:
    # PVE percent-escapes control characters in comment lines so the file stays line-based.
    return re.sub(r"[\x00-\x08\x0b-\x1f%]", lambda m: f"%{ord(m.group(0)):02X}", line)


def _decode_comment(line: str) -> str:
    return re.sub(r"%([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), line)


PENDING_SECTION = "[pve:pending]"


def render(
    conf: dict[str, str],
    raw_lxc: list[tuple[str, str]] | None = None,
    pending: dict[str, str] | None = None,
) -> str:
    """The pct.conf text for ``conf`` (string values as stored), raw ``lxc.*`` lines and the
    pending section (``write_pct_config``)."""
    text = _render_section(conf, raw_lxc)
    if pending:
        text += "\n" + PENDING_SECTION + "\n" + _render_section(pending, None)
    return text


def parse_pending(text: str) -> dict[str, str]:
    """The ``[pve:pending]`` section of a pct.conf text (empty when there is none)."""
    _, found, rest = text.partition(PENDING_SECTION + "\n")
    return parse(rest)[0] if found else {}


def _render_section(conf: dict[str, str], raw_lxc: list[tuple[str, str]] | None) -> str:
    out: list[str] = []
    descr = conf.get("description")
    if descr:
        out.extend("#" + _encode_comment(line) for line in descr.split("\n"))
    for key in sorted(conf):
        if key in ("description", "digest"):
            continue
        out.append(f"{key}: {conf[key]}")
    for key, value in raw_lxc or []:
        out.append(f"{key}: {value}")
    return "\n".join(out) + "\n"


def parse(text: str) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """Parse pct.conf text into (config, raw lxc lines); stops at the first ``[section]``."""
    conf: dict[str, str] = {}
    raw: list[tuple[str, str]] = []
    descr: list[str] = []
    for line in text.splitlines():
        if line.startswith("["):
            break
        if line.startswith("#"):
            descr.append(_decode_comment(line[1:]))
            continue
        if not line.strip():
            continue
        m_raw = _RAW_LXC.match(line)
        if m_raw:
            raw.append((m_raw.group(1), m_raw.group(2)))
            continue
        m = _LINE.match(line)
        if m:
            conf[m.group(1)] = m.group(2)
    if descr:
        conf["description"] = "\n".join(descr)
    return conf, raw


def digest(text: str) -> str:
    """SHA-1 hex of the config text (``PVE::Tools::assert_if_modified`` compares this)."""
    return hashlib.sha1(text.encode()).hexdigest()


def typed(conf: dict[str, str]) -> dict[str, Any]:
    """Config as GET …/config answers it: integers and booleans as JSON numbers."""
    result: dict[str, Any] = {}
    for key, value in conf.items():
        s = key_spec(key)
        typ = s.get("type") if s else "string"
        if typ in ("integer", "boolean") and re.fullmatch(r"-?\d+", value):
            result[key] = int(value)
        elif typ == "number":
            num = float(value)
            result[key] = int(num) if num.is_integer() else num
        else:
            result[key] = value
    return result


def normalise(key: str, value: str) -> str:
    """Re-print a property-string value in PVE's order (as ``print_*`` does when storing)."""
    fmt = property_format(key)
    if fmt is None:
        return value
    parts: dict[str, Any] = dict(propstr.parse(value, fmt))
    for sub, sval in list(parts.items()):
        if fmt[sub].get("type") == "boolean":
            parts[sub] = 1 if sval.lower() in ("1", "true", "yes", "on") else 0
    return propstr.render(parts, fmt)
