"""Parameter verification like pve-common ``JSONSchema.pm`` ``validate``/``check_object``.

Given an endpoint's declared parameters (``params.py``) and the raw strings a client sent,
returns typed values or raises ``ParamError`` with one message per bad key, as PVE does:
400 ``Parameter verification failed.`` plus an ``errors`` map. Texts follow PVE's
(``property is missing and it is not optional``, ``property is not defined in schema and
the schema does not allow additional properties``, ``type check ('integer') failed``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from typing import Any

from felhom_provider.sim import propstr
from felhom_provider.sim.errors import ParamError
from felhom_provider.sim.params import NOT_IMPLEMENTED_MESSAGE, Spec

UNDEFINED_MESSAGE = (
    "property is not defined in schema and the schema does not allow additional properties"
)
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_INDEXED = re.compile(r"^([a-z]+)(\d+)$")


def _ipv4(v: str) -> bool:
    try:
        ipaddress.IPv4Address(v)
    except ValueError:
        return False
    return True


def _ipv6(v: str) -> bool:
    try:
        ipaddress.IPv6Address(v)
    except ValueError:
        return False
    return True


def _cidr(v: str, version: int) -> bool:
    try:
        net = ipaddress.ip_interface(v)
    except ValueError:
        return False
    return "/" in v and net.version == version


def _ll_iface(v: str) -> bool:
    """``fe80::…%iface`` (``verify_ip_with_ll_iface``)."""
    addr, pct, iface = v.partition("%")
    return bool(pct) and addr.lower().startswith("fe80:") and _ipv6(addr) and bool(iface)


_LABEL = r"[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?"
_DNS = re.compile(rf"^({_LABEL}\.)*{_LABEL}$")
_TAG = re.compile(r"^[a-z0-9_][a-z0-9_\-+.]*$", re.IGNORECASE)
_SPLIT = re.compile(r"[;, ]+")

# Format name -> checker; a format not listed here is accepted as any string (documented).
FORMATS: dict[str, Callable[[str], bool]] = {
    "pve-node": lambda v: re.fullmatch(_LABEL, v) is not None,
    "pve-storage-id-list": lambda v: all(
        re.fullmatch(r"[a-z][a-z0-9\-_.]*[a-z0-9]", p, re.I) for p in _SPLIT.split(v.strip()) if p
    ),
    "pve-storage-id": lambda v: re.fullmatch(r"[a-z][a-z0-9\-_.]*[a-z0-9]", v, re.I) is not None,
    "dns-name": lambda v: _DNS.match(v) is not None,
    "dns-name-list": lambda v: all(_DNS.match(p) for p in _SPLIT.split(v.strip()) if p),
    "pve-tag-list": lambda v: all(_TAG.match(p) for p in _SPLIT.split(v.strip()) if p),
    "pve-volume-id": lambda v: re.fullmatch(r"[a-z][a-z0-9\-_.]*[a-z0-9]:.+", v, re.I) is not None,
    "pve-configid-list": lambda v: all(
        re.fullmatch(r"[a-z][a-z0-9_\-]*", p) for p in _SPLIT.split(v.strip()) if p
    ),
    "pve-configid": lambda v: re.fullmatch(r"[a-z][a-z0-9_\-]*", v) is not None,
    "mac-addr": lambda v: (
        re.fullmatch(r"[a-f0-9][02468ace](?::[a-f0-9]{2}){5}", v, re.I) is not None
    ),
    "ipv4": _ipv4,
    "ipv6": _ipv6,
    "pve-ipv4-config": lambda v: v in ("dhcp", "manual") or _cidr(v, 4),
    "pve-ipv6-config": lambda v: v in ("auto", "dhcp", "manual") or _cidr(v, 6),
    "disk-size": lambda v: re.fullmatch(r"\d+(\.\d+)?[KMGT]?", v) is not None,
    "pve-vmid-list": lambda v: all(re.fullmatch(r"\d+", p) for p in _SPLIT.split(v.strip()) if p),
    "pve-storage-content": lambda v: all(
        p in ("images", "rootdir", "vztmpl", "backup", "iso", "snippets", "import")
        for p in v.split(",")
    ),
    # pve-access-control: at most three levels (``a/b/c``).
    "pve-poolid": lambda v: re.fullmatch(r"[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-]+){0,2}", v) is not None,
    "pve-lxc-mp-string": lambda v: re.search(r"[\x00-\x1f]", v) is None,
    # pve-common JSONSchema.pm pve_parse_startup_order: [order=]N, up=N, down=N.
    "pve-startup-order": lambda v: all(
        re.fullmatch(r"(order=)?\d+|up=\d+|down=\d+", p) for p in v.split(",") if p.strip()
    ),
    # pve-container LXC.pm verify_nameserver_list: IPs, link-local IPv6 with %iface.
    "lxc-ip-with-ll-iface-list": lambda v: all(
        _ipv4(p) or _ipv6(p) or _ll_iface(p) for p in _SPLIT.split(v.strip()) if p
    ),
}
_FORMAT_ERRORS = {
    "mac-addr": "value does not look like a valid unicast MAC address",
    "pve-vmid-list": "value does not look like a valid VMID list",
    "pve-startup-order": "unable to parse startup options",
    "lxc-ip-with-ll-iface-list": "value does not look like a valid IP address",
}


def family_of(key: str, spec: Mapping[str, Spec]) -> str | None:
    """Map ``net0`` to ``net[n]`` (and check the index range); None when not a family."""
    m = _INDEXED.match(key)
    if not m:
        return None
    fam = f"{m.group(1)}[n]"
    if fam in spec and int(m.group(2)) < int(spec[fam].get("max_index", 1 << 30)):
        return fam
    return None


def check_value(value: Any, s: Spec) -> Any:
    """Type- and format-check one value; returns it typed, raises ``ValueError`` with PVE text."""
    text = str(value)
    typ = s.get("type", "string")
    if typ == "boolean":
        low = text.lower()
        if low in _TRUE:
            return 1
        if low in _FALSE:
            return 0
        raise ValueError(f"type check ('boolean') failed - got '{text}'")
    if typ == "integer":
        if not re.fullmatch(r"[+-]?\d+", text):
            raise ValueError(f"type check ('integer') failed - got '{text}'")
        return _range(int(text), s)
    if typ == "number":
        try:
            num = float(text)
        except ValueError:
            raise ValueError(f"type check ('number') failed - got '{text}'") from None
        return _range(num, s)
    if "enum" in s and text not in s["enum"]:
        raise ValueError(
            f"value '{text}' does not have a value in the enumeration '{', '.join(s['enum'])}'"
        )
    if "maxLength" in s and len(text) > int(s["maxLength"]):
        raise ValueError(f"value may only be {s['maxLength']} characters long")
    if "minLength" in s and len(text) < int(s["minLength"]):
        raise ValueError(f"value must be at least {s['minLength']} characters long")
    if "pattern" in s and not re.fullmatch(s["pattern"], text):
        raise ValueError("value does not match the regex pattern")
    fmt = s.get("format")
    if isinstance(fmt, dict):
        _check_property_string(text, fmt)
    elif isinstance(fmt, str) and fmt in FORMATS and not FORMATS[fmt](text):
        raise ValueError(_FORMAT_ERRORS.get(fmt, f"value does not look like a valid {fmt}"))
    return text


def _range(num: float, s: Spec) -> Any:
    if "minimum" in s and num < float(s["minimum"]):
        raise ValueError(f"value must have a minimum value of {s['minimum']}")
    if "maximum" in s and num > float(s["maximum"]):
        raise ValueError(f"value must have a maximum value of {s['maximum']}")
    return num


def _check_property_string(text: str, fmt: dict[str, Spec]) -> None:
    try:
        raw = propstr.parse(text, fmt)
    except propstr.PropertyStringError as exc:
        raise ValueError(f"invalid format - {exc}") from None
    for key, sub in raw.items():
        try:
            check_value(sub, fmt[key])
        except ValueError as exc:
            raise ValueError(f"invalid format - {key}: {exc}") from None


def validate(
    spec: Mapping[str, Spec],
    given: Mapping[str, Any],
    *,
    not_implemented: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Check ``given`` against ``spec``; return typed values or raise ``ParamError``.

    ``not_implemented`` names PVE parameters the simulator deliberately refuses; they are
    reported with their own message rather than as undefined.
    """
    errors: dict[str, str] = {}
    result: dict[str, Any] = {}
    for key, value in given.items():
        s = spec.get(key)
        if s is None:
            fam = family_of(key, spec)
            s = spec[fam] if fam else None
        if s is None:
            errors[key] = NOT_IMPLEMENTED_MESSAGE if key in not_implemented else UNDEFINED_MESSAGE
            continue
        try:
            result[key] = check_value(value, s)
        except ValueError as exc:
            errors[key] = str(exc)
    for key, s in spec.items():
        if "[n]" in key:
            continue
        if not s.get("optional") and key not in given:
            errors[key] = "property is missing and it is not optional"
        req = s.get("requires")
        if req and key in given and req not in given:
            errors[req] = f"missing property required by '{key}'"
    if errors:
        raise ParamError(errors)
    return result
