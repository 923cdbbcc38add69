"""SHA-256 certificate fingerprints in the forms PVE shows and operators paste.

Kept apart from ``tls`` (which builds on requests' HTTP adapter) so that validating a stack's
endpoint settings, which the Pulumi program does on every run, loads no HTTP library.
"""

from __future__ import annotations

import re

from felhom_provider.errors import ConfigError

_HEX_RE = re.compile(r"^[0-9a-f]{64}$")


def normalize_fingerprint(value: str) -> str:
    """Return a SHA-256 fingerprint as 64 lowercase hex digits.

    Accepts PVE's display form ``AB:CD:…`` (colons, any case) or bare hex. Raises
    ``ConfigError`` otherwise, so a pasted SHA-1 or a typo fails at configure time.
    """
    cleaned = value.strip().lower().replace(":", "")
    if cleaned.startswith("sha256"):
        raise ConfigError(
            "tls_fingerprint_sha256", "give the hex form (AB:CD:…), not an SSH-style SHA256:…"
        )
    if not _HEX_RE.match(cleaned):
        raise ConfigError(
            "tls_fingerprint_sha256",
            f"expected a SHA-256 fingerprint of 32 hex bytes, got {len(cleaned) // 2} bytes",
        )
    return cleaned


def format_fingerprint(hex_digest: str) -> str:
    """``ab12…`` → ``AB:12:…``, the form PVE's GUI and ``openssl x509 -fingerprint`` print."""
    h = normalize_fingerprint(hex_digest)
    return ":".join(h[i : i + 2] for i in range(0, len(h), 2)).upper()
