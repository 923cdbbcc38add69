"""pct.conf property strings (net0, rootfs, mpN, features), sizes, and pct.conf text.

PVE prints a property string with the default key's value first and without ``key=``, then
the required keys, then the rest sorted (pve-common ``JSONSchema.pm``
``print_property_string``); sizes with ``format_size`` (``8G``). Formatting the same way
means a read-back can be compared with what we asked for as plain strings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import unquote

_KEY_RE = re.compile(r"^[a-z][a-z0-9_-]*$")
_SIZE_RE = re.compile(r"^(\+)?(\d+(?:\.\d+)?)([KMGT])?$")
_UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
GIB = 1 << 30
# "STORAGE:SIZE_IN_GiB" asks PVE to allocate a new volume (Config.pm apply_pending_mountpoint).
_NEW_VOLUME_RE = re.compile(r"^[a-zA-Z][\w.-]*:\d+(?:\.\d+)?$")
_MP_KEY_RE = re.compile(r"^mp(\d+)$")
_TAG_SPLIT_RE = re.compile(r"[;, ]+")


def parse_property_string(text: str, *, default_key: str | None = None) -> dict[str, str]:
    """``"local-lvm:vm-1-disk-0,size=8G"`` → ``{"volume": "…", "size": "8G"}``.

    A part without ``=`` is the value of ``default_key``; raises ``ValueError`` for a
    duplicate key, an empty part, or a bare value where no default key exists.
    """
    result: dict[str, str] = {}
    for part in text.split(","):
        if not part:
            raise ValueError(f"empty element in property string {text!r}")
        key, sep, value = part.partition("=")
        if not sep or not _KEY_RE.match(key):
            if default_key is None:
                raise ValueError(f"value without key in property string {text!r}: {part!r}")
            key, value = default_key, part
        if key in result:
            raise ValueError(f"duplicate key {key!r} in property string {text!r}")
        result[key] = value
    return result


def format_property_string(
    values: Mapping[str, str | int | bool],
    *,
    default_key: str | None = None,
    required: Iterable[str] = (),
) -> str:
    """Print like PVE: default key's bare value, then required keys, then the rest sorted.

    Booleans become ``1``/``0``. Raises ``ValueError`` for a value holding ``,`` (PVE's
    property strings have no escaping for it) or an invalid key.
    """
    text = {k: _text(v) for k, v in values.items()}
    for key, value in text.items():
        if not _KEY_RE.match(key):
            raise ValueError(f"invalid property key {key!r}")
        if "," in value:
            raise ValueError(f"property {key!r} cannot hold a comma: {value!r}")
    parts: list[str] = []
    if default_key is not None and default_key in text:
        value = text[default_key]
        # A default value that looks like "k=v" would parse back as a key: print it keyed.
        bare = "=" not in value or not _KEY_RE.match(value.partition("=")[0])
        parts.append(value if bare and value else f"{default_key}={value}")
    req = [k for k in required if k in text and k != default_key]
    parts += [f"{k}={text[k]}" for k in req]
    rest = sorted(k for k in text if k != default_key and k not in req)
    parts += [f"{k}={text[k]}" for k in rest]
    return ",".join(parts)


def _text(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


# --- sizes ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SizeSpec:
    """A size as PVE's resize/config accept it: bytes, and whether it is relative (``+2G``)."""

    bytes: int
    relative: bool = False

    def __str__(self) -> str:
        return ("+" if self.relative else "") + format_size(self.bytes)


def parse_size(text: str | int) -> SizeSpec:
    """``"8G"`` / ``"512M"`` / ``"1.5G"`` / ``"+2G"`` / ``"1024"`` (no unit = bytes, as PVE's
    ``parse_size``) → ``SizeSpec``. Raises ``ValueError`` naming the text otherwise."""
    m = _SIZE_RE.match(str(text).strip())
    if not m:
        raise ValueError(f"not a size (e.g. 8G, 512M, +2G): {text!r}")
    try:
        number = Decimal(m.group(2))
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only decimals
        raise ValueError(f"not a size: {text!r}") from exc
    unit = _UNITS.get(m.group(3) or "", 1)
    return SizeSpec(bytes=int(number * unit), relative=bool(m.group(1)))


def format_size(n_bytes: int) -> str:
    """Bytes → the largest unit that divides exactly (``8589934592`` → ``8G``), like PVE's
    ``format_size``; sizes that are no whole number of KiB stay plain bytes."""
    if n_bytes < 0:
        raise ValueError(f"negative size: {n_bytes}")
    if n_bytes == 0:
        return "0"
    for unit in "TGMK":
        if n_bytes % _UNITS[unit] == 0:
            return f"{n_bytes // _UNITS[unit]}{unit}"
    return str(n_bytes)


def gib(n: int | float) -> int:
    """GiB → bytes."""
    return int(Decimal(str(n)) * GIB)


# --- typed property strings -----------------------------------------------------------------


@dataclass(frozen=True)
class Net:
    """A ``netN`` value (``Config.pm`` ``$netconf_desc``); ``options`` holds every other key."""

    name: str
    bridge: str | None = None
    hwaddr: str | None = None
    ip: str | None = None
    options: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Net:
        """Parse ``name=eth0,bridge=vmbr0,hwaddr=…,ip=dhcp,type=veth``."""
        values = parse_property_string(text)
        if "name" not in values:
            raise ValueError(f"net value lacks the required 'name': {text!r}")
        name = values.pop("name")
        bridge, hwaddr, ip = (values.pop(k, None) for k in ("bridge", "hwaddr", "ip"))
        return cls(name=name, bridge=bridge, hwaddr=hwaddr, ip=ip, options=values)

    def format(self) -> str:
        """Print as PVE does (``name`` first, the rest sorted)."""
        values = {"name": self.name, **self.options}
        for key in ("bridge", "hwaddr", "ip"):
            if getattr(self, key) is not None:
                values[key] = getattr(self, key)
        return format_property_string(values, required=("name",))


@dataclass(frozen=True)
class Mount:
    """A ``rootfs`` or ``mpN`` value: the volume (default key), ``mp`` (mpN only), ``size``."""

    volume: str
    mp: str | None = None
    size: int | None = None
    options: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Mount:
        """Parse ``local-lvm:vm-123-disk-1,mp=/data,size=10G``."""
        values = parse_property_string(text, default_key="volume")
        if "volume" not in values:
            raise ValueError(f"mount value lacks a volume: {text!r}")
        volume, mp = values.pop("volume"), values.pop("mp", None)
        size = values.pop("size", None)
        return cls(
            volume=volume,
            mp=mp,
            size=parse_size(size).bytes if size is not None else None,
            options=values,
        )

    @classmethod
    def new(cls, storage: str, size_gib: int, mp: str | None = None, **options: str) -> Mount:
        """A request to allocate a fresh volume: ``<storage>:<GiB>[,mp=…]``."""
        return cls(volume=f"{storage}:{size_gib}", mp=mp, options=options)

    @property
    def storage(self) -> str:
        """The storage id part of the volume (``local-lvm``)."""
        return self.volume.split(":", 1)[0]

    @property
    def allocates(self) -> bool:
        """True when this value asks PVE to allocate a new volume (not idempotent)."""
        return bool(_NEW_VOLUME_RE.match(self.volume))

    def format(self) -> str:
        """Print as PVE does (volume bare, ``mp`` next, the rest sorted)."""
        values: dict[str, str] = {"volume": self.volume, **self.options}
        if self.mp is not None:
            values["mp"] = self.mp
        if self.size is not None:
            values["size"] = format_size(self.size)
        return format_property_string(values, default_key="volume", required=("mp",))


def parse_features(text: str | None) -> dict[str, str]:
    """``"keyctl=1,nesting=1"`` → ``{"keyctl": "1", "nesting": "1"}`` (empty or None → ``{}``)."""
    return parse_property_string(text) if text and text.strip() else {}


def format_features(features: Mapping[str, str | int | bool]) -> str:
    """``{"nesting": True, "keyctl": True}`` → ``"keyctl=1,nesting=1"`` (sorted, as PVE)."""
    return format_property_string(features)


def is_new_volume(value: str) -> bool:
    """True if a ``rootfs``/``mpN`` value allocates a new volume (``local-lvm:10,…``)."""
    return Mount.parse(value).allocates


def parse_pct_conf(text: str) -> dict[str, str]:
    """The main section of a pct.conf (``extractconfig`` output) → ``{key: value}``.

    Leading ``#`` lines are the description (``Config.pm`` ``write_pct_config`` writes them
    with ``encode_text``, i.e. percent-escaped); parsing stops at the first ``[section]``
    (pending changes, snapshots). ``lxc.*`` raw keys are kept as they are.
    """
    conf: dict[str, str] = {}
    description: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("["):
            break
        if line.startswith("#"):
            description.append(unquote(line[1:]))
            continue
        # "lxc.cgroup2.devices.allow: c 10:200 rwm" splits at the first colon like the rest.
        key, sep, value = line.partition(":")
        if sep:
            conf[key.strip()] = value.strip()
    if description and "description" not in conf:
        conf["description"] = "\n".join(description)
    return conf


# --- values of a CT config (``GET …/config`` or ``parse_pct_conf``) --------------------------


def config_property(
    config: Mapping[str, Any], key: str, *, default_key: str | None = None
) -> dict[str, str]:
    """A property-string key of a CT config as a dict; ``{}`` when the key is absent."""
    text = str(config.get(key) or "")
    return parse_property_string(text, default_key=default_key) if text else {}


def config_mount(config: Mapping[str, Any], key: str) -> Mount | None:
    """The ``rootfs``/``mpN`` value of a CT config, or None when the key is absent."""
    text = str(config.get(key) or "")
    return Mount.parse(text) if text else None


def mount_keys(config: Mapping[str, Any]) -> list[tuple[int, str]]:
    """``(index, value)`` for every ``mpN`` key of a CT config, ordered by index."""
    found = []
    for key, value in config.items():
        match = _MP_KEY_RE.match(str(key))
        if match:
            found.append((int(match.group(1)), str(value)))
    return sorted(found)


def as_int(value: Any, default: int = 0) -> int:
    """A config number; PVE's JSON sends numbers as ints or strings."""
    if value is None or value == "":
        return default
    return int(str(value).strip())


def as_bool(value: Any) -> bool:
    """A config boolean: ``1``/``0`` as ints or strings."""
    return str(value).strip() in ("1", "true", "yes", "on")


def split_tags(value: Any) -> tuple[str, ...]:
    """A tag list: PVE prints ``;``-separated and also accepts ``,`` and spaces."""
    return tuple(t for t in _TAG_SPLIT_RE.split(str(value or "").strip()) if t)
