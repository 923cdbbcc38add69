"""Where and how to reach one PVE node: URL, node name, API token, TLS trust, timeouts."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from felhom_provider.errors import ConfigError
from felhom_provider.pve.fingerprint import normalize_fingerprint
from felhom_provider.secrets import MASK

# PVE waits up to 10 s for a CT config flock before answering "got timeout"
# (pve-guest-common AbstractConfig.pm lock_config). A client timeout at or below that turns
# a slow success into a lost answer (proxmoxer's 5 s default; community.proxmox#45).
PVE_LOCK_WAIT_S = 10.0
DEFAULT_PORT = 8006


_HOST = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)


def check_url(url: str, field: str = "pve.endpoint") -> str:
    """``https://host[:port]`` and nothing else; returns it without a trailing ``/``.

    User info, a path, a query or a fragment would be silently ignored by the client (it
    builds ``/api2/json/…`` itself), so they are refused instead of dropped.
    """
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        raise ConfigError(field, "contains a space or control character")
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(field, f"has an invalid port: {url!r}") from None
    host = parts.hostname or ""
    if parts.scheme != "https" or not host:
        raise ConfigError(field, f"expected https://host[:port], got {url!r}")
    if parts.username is not None or parts.password is not None:
        raise ConfigError(field, "must not carry user info (the token authenticates)")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError(field, f"must be https://host[:port] without path or query: {url!r}")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not _HOST.fullmatch(host) or len(host) > 253:
            raise ConfigError(field, f"{host!r} is not a host name or IP address") from None
    if port == 0:
        raise ConfigError(field, "port 0 is not a port")
    return url.rstrip("/")


@dataclass(frozen=True)
class PveEndpoint:
    """Connection settings for one node. ``token_secret`` never appears in ``repr``.

    TLS: ``tls_fingerprint_sha256`` pins PVE's (usually self-signed) certificate;
    ``ca_bundle`` verifies against a CA file; with neither, the system CAs are used;
    ``verify_tls=False`` turns checking off (logged loudly; for throwaway labs only).
    """

    url: str
    node: str
    token_id: str
    token_secret: str
    tls_fingerprint_sha256: str | None = None
    ca_bundle: str | None = None
    verify_tls: bool = True
    timeout_s: float = 30.0
    connect_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        check_url(self.url)
        if "!" not in self.token_id or "@" not in self.token_id.split("!", 1)[0]:
            raise ConfigError("pve.tokenId", f"expected USER@REALM!TOKENID, got {self.token_id!r}")
        if not self.token_secret:
            raise ConfigError("pveTokenSecret", "the API token secret is empty")
        if self.timeout_s <= PVE_LOCK_WAIT_S:
            raise ConfigError(
                "pve.timeout",
                f"{self.timeout_s:g}s must exceed PVE's {PVE_LOCK_WAIT_S:g}s lock wait",
            )
        if self.tls_fingerprint_sha256:
            normalize_fingerprint(self.tls_fingerprint_sha256)

    def __repr__(self) -> str:
        return (
            f"PveEndpoint(url={self.url!r}, node={self.node!r}, token_id={self.token_id!r}, "
            f"token_secret={MASK!r}, tls_fingerprint_sha256={self.tls_fingerprint_sha256!r}, "
            f"ca_bundle={self.ca_bundle!r}, verify_tls={self.verify_tls!r}, "
            f"timeout_s={self.timeout_s!r})"
        )

    @property
    def host(self) -> str:
        """The host part of the URL (IPv6 without brackets)."""
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        """The port of the URL, 8006 when not given."""
        return urlsplit(self.url).port or DEFAULT_PORT

    @property
    def user(self) -> str:
        """``felhom-agent@pve`` of ``felhom-agent@pve!agent``."""
        return self.token_id.split("!", 1)[0]

    @property
    def token_name(self) -> str:
        """``agent`` of ``felhom-agent@pve!agent``."""
        return self.token_id.split("!", 1)[1]

    @classmethod
    def from_endpoint_json(
        cls, source: str | Path | Mapping[str, Any], *, token: str = "agent", **overrides: Any
    ) -> PveEndpoint:
        """Build from the simulator's ``endpoint.json`` (path or parsed mapping).

        ``token`` picks an entry of its ``tokens`` by token name or full id; the certificate
        fingerprint it publishes is pinned.
        """
        data: Mapping[str, Any]
        if isinstance(source, Mapping):
            data = source
        else:
            data = json.loads(Path(source).read_text(encoding="utf-8"))
        entry = _pick_token(data.get("tokens"), token)
        values: dict[str, Any] = {
            "url": data["api_url"],
            "node": data["node"],
            "token_id": entry["id"],
            "token_secret": entry["secret"],
            "tls_fingerprint_sha256": data.get("tls_fingerprint_sha256"),
        }
        values.update(overrides)
        return cls(**values)


def _pick_token(tokens: Any, wanted: str) -> Mapping[str, Any]:
    entries: list[Mapping[str, Any]] = []
    if isinstance(tokens, Mapping):
        for key, value in tokens.items():
            if isinstance(value, Mapping):
                entries.append({"name": key, **value})
    elif isinstance(tokens, list):
        entries = [t for t in tokens if isinstance(t, Mapping)]
    for entry in entries:
        token_id = str(entry.get("id", ""))
        names = {token_id, token_id.split("!", 1)[-1], str(entry.get("name", ""))}
        if wanted in names and entry.get("secret"):
            return {"id": token_id, "secret": entry["secret"]}
    raise ConfigError("endpoint.json", f"no token {wanted!r} with an id and a secret")
