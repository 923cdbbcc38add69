"""Typed provider settings, parsed from the stack config a dynamic provider receives.

The engine hands a dynamic provider the *whole* stack config in ``configure()``: keys carry
their namespace (``felhom:pve``), secrets arrive unwrapped and every value is a string
(JSON text for structured values). The program reads the same keys through
``pulumi.Config`` and gets them already decoded, so ``parse_settings`` accepts both shapes.

Nothing here is pickled into state: the provider builds a ``ProviderSettings`` in
``configure()`` and keeps it outside its pickled ``__dict__``. The token secret is held in a
``felhom_provider.secrets.Secret`` that never shows in ``repr``/``str``, so settings can be
logged safely.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from felhom_provider.errors import ConfigError
from felhom_provider.guest.keyline import check_key_line
from felhom_provider.pve.endpoint import check_url
from felhom_provider.secrets import Secret

NAMESPACE = "felhom"
KEY_PVE = f"{NAMESPACE}:pve"
KEY_TOKEN_SECRET = f"{NAMESPACE}:pveTokenSecret"
KEY_NODE_SHELL = f"{NAMESPACE}:nodeShell"
KEY_GUEST_SSH_PORT = f"{NAMESPACE}:guestSshPort"
KEY_LIMITS = f"{NAMESPACE}:limits"

_TOKEN_ID = re.compile(r"[A-Za-z0-9._-]+@[A-Za-z0-9._-]+![A-Za-z][A-Za-z0-9._-]*")
_NODE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")
_USER = re.compile(r"[a-z_][a-z0-9_-]{0,31}")

ConfigGetter = Callable[[str], Any]
"""Looks a fully qualified config key up; returns None when it is not set."""


@dataclass(frozen=True)
class PveSettings:
    """Where the PVE API is and how to trust and authenticate to it."""

    endpoint: str
    node: str
    token_id: str
    token_secret: Secret = field(repr=False)
    tls_fingerprint_sha256: str | None = None
    ca_bundle: str | None = None
    insecure_skip_tls_verify: bool = False
    timeout_s: float = 30.0


@dataclass(frozen=True)
class NodeShellSettings:
    """The node's SSH shell (root, ``pct``): used for the golden build and fallbacks."""

    host: str
    port: int
    user: str
    host_key: str
    private_key_path: str


@dataclass(frozen=True)
class Limits:
    """Bounds on concurrency and waiting, tunable per stack (``felhom:limits``)."""

    restores_per_node: int = 2
    task_timeout_s: float = 900.0
    http_timeout_s: float = 30.0


@dataclass(frozen=True)
class ProviderSettings:
    """Everything a provider process needs to reach PVE, typed and validated."""

    pve: PveSettings
    node_shell: NodeShellSettings | None
    guest_ssh_port: int = 22
    limits: Limits = field(default_factory=Limits)


def decode(key: str, raw: Any) -> Any:
    """A config value as the program would see it: JSON text decoded, plain strings kept."""
    if not isinstance(raw, str):
        return raw
    text = raw.strip()
    if text[:1] in ("{", "[") or text in ("true", "false") or _looks_numeric(text):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(key, f"is not valid JSON ({exc.msg} at column {exc.colno})") from None
    return raw


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def require_str(key: str, obj: Mapping[str, Any], name: str, *, default: str | None = None) -> str:
    """``obj[name]`` as a non-empty string, or a ConfigError naming ``key.name``."""
    value = obj.get(name, default)
    if value is None:
        raise ConfigError(f"{key}.{name}", "is required")
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{key}.{name}", "must be a non-empty string")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ConfigError(f"{key}.{name}", "contains a control character (newline, tab, ...)")
    return value.strip()


def optional_str(key: str, obj: Mapping[str, Any], name: str) -> str | None:
    """``obj[name]`` as a string when present."""
    if obj.get(name) is None:
        return None
    return require_str(key, obj, name)


def as_int(field_name: str, value: Any, *, minimum: int, maximum: int | None = None) -> int:
    """An integer within bounds; whole floats (``4.0``) are accepted, as the wire sends them."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(field_name, f"must be an integer, got {type(value).__name__}")
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(field_name, f"must be an integer, got {value!r}") from None
    if not number.is_integer():
        raise ConfigError(field_name, f"must be a whole number, got {value!r}")
    result = int(number)
    if result < minimum or (maximum is not None and result > maximum):
        bounds = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise ConfigError(field_name, f"must be {bounds}, got {result}")
    return result


def as_mapping(key: str, value: Any) -> Mapping[str, Any]:
    """A structured config value (object), decoded from JSON text when needed."""
    decoded = decode(key, value)
    if not isinstance(decoded, Mapping):
        raise ConfigError(key, "must be an object (set it with `pulumi config set --path`)")
    return decoded


def _parse_pve(raw: Any, secret: Any, timeout_s: float) -> PveSettings:
    if raw is None:
        raise ConfigError(KEY_PVE, "is required (endpoint, node, tokenId and a TLS trust setting)")
    obj = as_mapping(KEY_PVE, raw)
    endpoint = check_url(require_str(KEY_PVE, obj, "endpoint"), f"{KEY_PVE}.endpoint")
    token_id = require_str(KEY_PVE, obj, "tokenId")
    if not _TOKEN_ID.fullmatch(token_id):
        raise ConfigError(f"{KEY_PVE}.tokenId", "must look like user@realm!tokenname")
    fingerprint = optional_str(KEY_PVE, obj, "tlsFingerprint")
    ca_bundle = optional_str(KEY_PVE, obj, "caBundle")
    insecure = decode(f"{KEY_PVE}.insecureSkipTlsVerify", obj.get("insecureSkipTlsVerify", False))
    if not isinstance(insecure, bool):
        raise ConfigError(f"{KEY_PVE}.insecureSkipTlsVerify", "must be true or false")
    chosen = [fingerprint is not None, ca_bundle is not None, insecure]
    if sum(chosen) != 1:
        raise ConfigError(
            KEY_PVE,
            "set exactly one of tlsFingerprint (SHA-256 of the node certificate), caBundle "
            "(path to a PEM file) or insecureSkipTlsVerify: true",
        )
    if fingerprint is not None:
        hexits = fingerprint.replace(":", "").lower()
        if len(hexits) != 64 or any(c not in "0123456789abcdef" for c in hexits):
            raise ConfigError(f"{KEY_PVE}.tlsFingerprint", "must be a SHA-256 fingerprint (hex)")
    if secret is None or (isinstance(secret, str) and not secret):
        raise ConfigError(
            KEY_TOKEN_SECRET, "is required: `pulumi config set --secret felhom:pveTokenSecret`"
        )
    if not isinstance(secret, str):
        raise ConfigError(KEY_TOKEN_SECRET, "must be a string")
    # Pasted from a file it often ends in CR/LF, which http.client refuses in a header (and
    # would put the secret into the error text): strip it; any other control character is
    # refused without showing the value.
    secret = secret.strip()
    if not secret or any(ord(c) < 0x20 or ord(c) == 0x7F for c in secret):
        raise ConfigError(KEY_TOKEN_SECRET, "is empty or contains a control character")
    node = require_str(KEY_PVE, obj, "node")
    if not _NODE.fullmatch(node):
        raise ConfigError(f"{KEY_PVE}.node", f"{node!r} is not a PVE node name")
    return PveSettings(
        endpoint=endpoint,
        node=node,
        token_id=token_id,
        token_secret=Secret(secret),
        tls_fingerprint_sha256=fingerprint,
        ca_bundle=ca_bundle,
        insecure_skip_tls_verify=insecure,
        timeout_s=timeout_s,
    )


def _parse_node_shell(raw: Any) -> NodeShellSettings | None:
    if raw is None:
        return None
    obj = as_mapping(KEY_NODE_SHELL, raw)
    unknown = sorted(set(obj) - {"host", "port", "user", "hostKey", "privateKeyPath"})
    if unknown:
        raise ConfigError(f"{KEY_NODE_SHELL}.{unknown[0]}", "unknown key")
    values = {k: require_str(KEY_NODE_SHELL, obj, k) for k in ("host", "hostKey", "privateKeyPath")}
    values["user"] = require_str(KEY_NODE_SHELL, obj, "user", default="root")
    for key, value in values.items():
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in str(obj.get(key, value))):
            raise ConfigError(f"{KEY_NODE_SHELL}.{key}", "contains a control character")
    host = values["host"]
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not _HOST.fullmatch(host):
            raise ConfigError(
                f"{KEY_NODE_SHELL}.host", f"{host!r} is not a host name or IP"
            ) from None
    if not _USER.fullmatch(values["user"]):
        raise ConfigError(f"{KEY_NODE_SHELL}.user", f"{values['user']!r} is not a user name")
    # The pinned key must be a well-formed key of a type the shell can pin (type and blob
    # agree); checked by its wire format, since the program runs this on every `pulumi up`.
    check_key_line(values["hostKey"], field=f"{KEY_NODE_SHELL}.hostKey")
    return NodeShellSettings(
        host=host,
        port=as_int(f"{KEY_NODE_SHELL}.port", obj.get("port", 22), minimum=1, maximum=65535),
        user=values["user"],
        host_key=values["hostKey"],
        private_key_path=values["privateKeyPath"],
    )


def _parse_limits(raw: Any) -> Limits:
    if raw is None:
        return Limits()
    obj = as_mapping(KEY_LIMITS, raw)
    defaults = Limits()
    return Limits(
        restores_per_node=as_int(
            f"{KEY_LIMITS}.restoresPerNode",
            obj.get("restoresPerNode", defaults.restores_per_node),
            minimum=1,
            maximum=16,
        ),
        task_timeout_s=float(
            as_int(
                f"{KEY_LIMITS}.taskTimeoutSeconds",
                obj.get("taskTimeoutSeconds", defaults.task_timeout_s),
                minimum=1,
            )
        ),
        http_timeout_s=float(
            as_int(
                # Above PVE's 10 s config-lock wait, so a lock timeout arrives as PVE's answer.
                f"{KEY_LIMITS}.httpTimeoutSeconds",
                obj.get("httpTimeoutSeconds", defaults.http_timeout_s),
                minimum=11,
                maximum=600,
            )
        ),
    )


def parse_settings(get: ConfigGetter) -> ProviderSettings:
    """Build and validate the provider settings; a ConfigError names the offending key."""
    port = decode(KEY_GUEST_SSH_PORT, get(KEY_GUEST_SSH_PORT))
    limits = _parse_limits(get(KEY_LIMITS))
    return ProviderSettings(
        pve=_parse_pve(get(KEY_PVE), get(KEY_TOKEN_SECRET), limits.http_timeout_s),
        node_shell=_parse_node_shell(get(KEY_NODE_SHELL)),
        guest_ssh_port=22
        if port is None
        else as_int(KEY_GUEST_SSH_PORT, port, minimum=1, maximum=65535),
        limits=limits,
    )
