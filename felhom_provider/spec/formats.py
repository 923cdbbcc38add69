"""PVE value formats as full-match validators, each defined once.

The patterns follow pve-common's ``PVE/JSONSchema.pm`` formats (``pve-node``,
``pve-storage-id``, ``pve-tag``, ``pve-poolid``, ``mac-addr``, ``pve-startup-order``) and
pve-container's ``$netconf_desc`` (``src/PVE/LXC/Config.pm``), lower-cased where PVE is
case-insensitive so values compare stably. Every pattern is applied with ``re.fullmatch``.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import posixpath
from typing import Any

from felhom_provider.spec.field import Validator, integer, pattern, plain_text

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"

#: One lower-case DNS label: it becomes /etc/hostname and the DHCP client's announced name.
#: PVE accepts an FQDN but writes only its first label to /etc/hostname (``Setup/Base.pm``
#: ``set_hostname``), so two guests ``a.x`` and ``a.y`` would announce the same name; the
#: domain part belongs in ``searchdomain``.
HOSTNAME = pattern(_LABEL, "one lower-case DNS label (a-z, 0-9, '-', at most 63)", max_len=63)
#: A search domain: lower-case labels separated by dots.
DOMAIN = pattern(rf"{_LABEL}(?:\.{_LABEL})*", "a DNS domain of lower-case labels", max_len=253)
#: ``pve-node``.
NODE = pattern(_LABEL, "a PVE node name (one DNS label)", max_len=63)
#: ``pve-storage-id``.
STORAGE = pattern(
    r"[a-z][a-z0-9\-_.]*[a-z0-9]", "a PVE storage id (letters, digits, - _ .)", max_len=64
)
#: A volume id ``<storage>:<volume>`` as PVE prints it (no spaces, commas or '=').
VOLID = pattern(r"[a-z][a-z0-9\-_.]*[a-z0-9]:[A-Za-z0-9/._:+\-]+", "a volume id <storage>:<volume>")
#: Linux interface names are at most 15 bytes (IFNAMSIZ); PVE's ``pve-bridge-id``.
BRIDGE = pattern(r"[A-Za-z][A-Za-z0-9_.\-]{0,14}", "a bridge name (at most 15 characters)")
#: ``pve-tag``, lower case only so tags compare stably.
TAG = pattern(
    r"[a-z0-9_][a-z0-9_\-+.]*", "a PVE tag (lower-case letters, digits, _ - + .)", max_len=64
)
#: ``pve-poolid``.
POOL = pattern(r"[A-Za-z0-9\-_]+", "a PVE pool id (letters, digits, - _)", max_len=64)
#: pve-container ``vmid``: PVE hands out 100 .. 999999999.
VMID_MIN, VMID_MAX = 100, 999_999_999
VMID = integer(VMID_MIN, VMID_MAX)
#: Sizes in GiB: at most 128 TiB for one volume.
GIB = integer(1, 131_072)
#: mp0 .. mp255 (pve-container ``$MAX_MOUNT_POINTS``).
MAX_MOUNTS = 256

_KEY_TYPES = (
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
)


def mac(value: Any) -> str:
    """A unicast MAC (``mac-addr``: PVE refuses a multicast first octet), upper case."""
    text = pattern(r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}", "a MAC like BC:24:11:00:00:01")(value)
    if int(text[:2], 16) & 1:
        raise ValueError(f"{text!r} is a multicast address; PVE needs a unicast MAC")
    return text.upper()


def _interface(
    value: Any,
    keywords: tuple[str, ...],
    kind: type[ipaddress.IPv4Interface] | type[ipaddress.IPv6Interface],
    expected: str,
    example_prefix: int,
) -> str:
    """One of ``keywords``, or an address with prefix of ``kind``, normalised."""
    text = plain_text(value)
    if text in keywords:
        return text
    try:
        iface = kind(text)
    except ValueError:
        raise ValueError(f"{text!r} is neither {expected}") from None
    if "/" not in text:
        raise ValueError(f"{text!r} needs a prefix length, e.g. {text}/{example_prefix}")
    return str(iface)


def ipv4_cidr(value: Any) -> str:
    """``dhcp`` or an IPv4 address with prefix (``192.0.2.10/24``), normalised."""
    expected = "dhcp nor an IPv4 address/prefix"
    return _interface(value, ("dhcp",), ipaddress.IPv4Interface, expected, 24)


def ipv6_cidr(value: Any) -> str:
    """``auto``, ``dhcp`` or an IPv6 address with prefix, normalised."""
    expected = "auto, dhcp nor an IPv6 address/prefix"
    return _interface(value, ("auto", "dhcp"), ipaddress.IPv6Interface, expected, 64)


def ip_address(version: int) -> Validator:
    """A plain IPv4 or IPv6 address (a gateway, a name server), normalised."""

    def check(value: Any) -> str:
        text = plain_text(value)
        try:
            addr = ipaddress.ip_address(text)
        except ValueError:
            raise ValueError(f"{text!r} is not an IP address") from None
        if version and addr.version != version:
            raise ValueError(f"{text!r} is not an IPv{version} address")
        return str(addr)

    return check


def mount_path(value: Any) -> str:
    """An absolute, normalised path below ``/`` without ``..``, ``,`` or ``=`` (they would
    break PVE's property string ``mp=<path>``)."""
    text = plain_text(value, max_len=1024)
    if not text.startswith("/"):
        raise ValueError(f"{text!r} must be an absolute path (start with /)")
    normal = posixpath.normpath(text)
    if normal in ("/", "//") or ".." in text.split("/") or "," in text or "=" in text:
        raise ValueError(f"{text!r} must be a plain absolute path below / (no .., comma, =)")
    return normal


def authorized_key(value: Any) -> str:
    """One OpenSSH public key line ``<type> <base64> [comment]`` (no options prefix).

    The blob must decode and name the same type as the line, so a truncated paste fails at
    preview instead of silently locking the customer out.
    """
    text = plain_text(value, max_len=8192)
    parts = text.split(" ", 2)
    if len(parts) < 2 or parts[0] not in _KEY_TYPES:
        raise ValueError(
            f"{text[:40]!r}... is not a public key line '<type> <base64> [comment]' "
            f"(types: {', '.join(_KEY_TYPES)})"
        )
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"the {parts[0]} key's base64 does not decode") from None
    length = int.from_bytes(blob[:4], "big") if len(blob) >= 4 else -1
    if blob[4 : 4 + length].decode("ascii", "replace") != parts[0]:
        raise ValueError(f"the key blob is not a {parts[0]} key")
    return text
