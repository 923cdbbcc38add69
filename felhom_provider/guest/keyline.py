"""OpenSSH public-key lines checked by their wire format alone, without an SSH library.

The stack config's pinned node host key is validated on every program run (``settings``);
loading the SSH library for it cost about a fifth of a second of CPU per stack. The wire
format says enough to refuse what an operator can get wrong: a line that is not
``<type> <base64> [comment]``, a type we cannot pin, base64 that does not decode, a blob whose
inner type differs from the declared one, and a blob whose fields are missing, truncated or
followed by extra bytes. The layouts are RFC 4253 §6.6 (``ssh-rsa``: type, e, n), RFC 5656
§3.1 (ECDSA: type, curve name, point) and RFC 8709 §4 (``ssh-ed25519``: type, 32-byte key),
each field a big-endian ``uint32`` length and its bytes. The SSH library parses the key fully
when a shell connects with it (``guest.hostkeys.parse_public_key``).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from felhom_provider.errors import ConfigError

#: Key types that can be pinned, and the number of length-prefixed fields after the type.
FIELDS_AFTER_TYPE = {
    "ssh-ed25519": 1,
    "ecdsa-sha2-nistp256": 2,
    "ecdsa-sha2-nistp384": 2,
    "ecdsa-sha2-nistp521": 2,
    "ssh-rsa": 2,
}
ED25519_KEY_BYTES = 32


@dataclass(frozen=True)
class KeyLine:
    """A well-formed public-key line: its type and its blob."""

    key_type: str
    blob: bytes


def _fields(blob: bytes) -> list[bytes]:
    """Split a blob into its length-prefixed fields; raise ``ValueError`` when it does not."""
    fields: list[bytes] = []
    at = 0
    while at < len(blob):
        if at + 4 > len(blob):
            raise ValueError("truncated length")
        size = int.from_bytes(blob[at : at + 4], "big")
        at += 4
        if at + size > len(blob):
            raise ValueError("truncated field")
        fields.append(blob[at : at + size])
        at += size
    return fields


def check_key_line(line: str, *, field: str) -> KeyLine:
    """The type and blob of an OpenSSH public-key line; ``ConfigError`` naming ``field`` if bad."""
    parts = line.strip().split()
    if len(parts) < 2:
        raise ConfigError(field, "expected an OpenSSH public key line: '<type> <base64> [comment]'")
    key_type, b64 = parts[0], parts[1]
    if key_type not in FIELDS_AFTER_TYPE:
        raise ConfigError(field, f"unsupported host key type {key_type!r}")
    try:
        blob = base64.b64decode(b64, validate=True)
        fields = _fields(blob)
    except (binascii.Error, ValueError) as exc:
        raise ConfigError(field, f"unreadable {key_type} key: {exc}") from None
    # A non-empty blob has at least one field or failed above; bytes are compared as bytes
    # and decoded only for the message.
    if fields[0] != key_type.encode():
        inner = fields[0].decode("ascii", "replace") or "empty"
        raise ConfigError(field, f"key blob is {inner}, line says {key_type}")
    body = fields[1:]
    if len(body) != FIELDS_AFTER_TYPE[key_type] or not all(body):
        raise ConfigError(field, f"unreadable {key_type} key: wrong number of fields")
    if key_type == "ssh-ed25519" and len(body[0]) != ED25519_KEY_BYTES:
        raise ConfigError(field, f"unreadable {key_type} key: {len(body[0])}-byte key")
    if key_type.startswith("ecdsa-sha2-") and body[0] != key_type[11:].encode():
        raise ConfigError(field, f"unreadable {key_type} key: curve {body[0]!r}")
    return KeyLine(key_type, blob)
