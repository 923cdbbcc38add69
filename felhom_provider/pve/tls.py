"""TLS trust for the PVE API: a CA bundle, a pinned SHA-256 certificate fingerprint, or off.

PVE ships a self-signed certificate (``/etc/pve/local/pve-ssl.pem``), so the common case is
pinning the SHA-256 fingerprint the PVE GUI shows under *Certificates*. The pin is checked on
every new TLS connection, after the handshake and before any request byte (and so before the
API token) is written. Turning verification off is possible only explicitly and is logged
loudly: proxmoxer silences urllib3's insecure-request warnings globally on import
(``backends/https.py``), so nothing else would ever say it.
"""

from __future__ import annotations

import hashlib
import logging
import ssl
from dataclasses import dataclass
from typing import Any

from requests.adapters import HTTPAdapter

from felhom_provider.pve.fingerprint import format_fingerprint, normalize_fingerprint

log = logging.getLogger(__name__)


def certificate_fingerprint(der: bytes) -> str:
    """The SHA-256 fingerprint (hex, ``AB:CD:…``) of a DER-encoded certificate."""
    return format_fingerprint(hashlib.sha256(der).hexdigest())


def pem_fingerprint(pem: str) -> str:
    """The SHA-256 fingerprint (``AB:CD:…``) of a PEM certificate (e.g. PVE's pve-ssl.pem)."""
    return certificate_fingerprint(ssl.PEM_cert_to_DER_cert(pem))


class PinnedFingerprintAdapter(HTTPAdapter):
    """A requests adapter that accepts a server only if its certificate's SHA-256 matches.

    urllib3 hashes the peer's DER certificate right after the handshake and compares it in
    constant time against ``assert_fingerprint`` before the request is written; a mismatch
    raises ``SSLError`` (classified as ``AuthError``, never retried). Chain and hostname
    checks are off on purpose: the pin identifies the one certificate we trust, which for a
    self-signed PVE certificate is the only meaningful check.
    """

    def __init__(self, fingerprint: str, **kwargs: Any) -> None:
        self.fingerprint = normalize_fingerprint(fingerprint)
        super().__init__(**kwargs)

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        """Create the pool manager with the pin applied to every connection pool."""
        pool_kwargs["assert_fingerprint"] = self.fingerprint
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        """Proxied connections carry the pin too (a CONNECT tunnel ends at PVE)."""
        proxy_kwargs["assert_fingerprint"] = self.fingerprint
        return super().proxy_manager_for(proxy, **proxy_kwargs)


@dataclass(frozen=True)
class TlsSetup:
    """How to talk TLS to one endpoint: ``verify`` for requests, and an adapter if pinned."""

    verify: bool | str
    adapter: HTTPAdapter | None
    mode: str


def tls_setup(
    *, fingerprint: str | None, ca_bundle: str | None, verify_tls: bool, url: str
) -> TlsSetup:
    """Decide the TLS mode for an endpoint; the pin wins over a CA bundle, both over "off"."""
    if fingerprint:
        # urllib3 skips chain validation when a fingerprint is asserted with CERT_NONE; with a
        # CA bundle as well, both the chain and the pin must hold.
        return TlsSetup(
            verify=ca_bundle or False,
            adapter=PinnedFingerprintAdapter(fingerprint),
            mode="pinned+ca" if ca_bundle else "pinned",
        )
    if ca_bundle:
        return TlsSetup(verify=ca_bundle, adapter=None, mode="ca-bundle")
    if not verify_tls:
        log.warning(
            "TLS VERIFICATION IS OFF for %s: anyone on the path can read the API token and "
            "impersonate PVE. Pin the certificate (tls_fingerprint_sha256) or give a CA bundle.",
            url,
        )
        return TlsSetup(verify=False, adapter=None, mode="insecure")
    return TlsSetup(verify=True, adapter=None, mode="system-ca")
