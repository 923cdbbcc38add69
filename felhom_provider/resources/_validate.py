"""Pure input validators for ``check``: normalise types, collect failures, never do I/O.

Each helper reads one field from the raw inputs, records a ``CheckFailure`` that names the
field when it is wrong, and returns the normalised value. ``Unknown()`` values (preview)
are passed through untouched: they are validated on the run that knows them.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Mapping
from typing import Any

from pulumi.dynamic import CheckFailure, CheckResult
from pulumi.output import Unknown

from felhom_provider.errors import ConfigError
from felhom_provider.resources._diff import PROVIDER_KEY, DiffTable, is_unknown

# RFC 1123 host labels, lower case only: PVE accepts upper case but DHCP servers and
# DNS treat names case-insensitively, so two guests could collide.
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
# One label, not an FQDN: it becomes /etc/hostname and the DHCP client's announced name.
HOSTNAME_RE = re.compile(rf"^{_LABEL}$")
# PVE's pve-storage-id and pve-node formats.
STORAGE_RE = re.compile(r"^[a-z][a-z0-9\-_.]*[a-z0-9]$", re.IGNORECASE)
NODE_RE = re.compile(rf"^{_LABEL}$", re.IGNORECASE)
# A volume id: <storage>:<volume>, e.g. local:backup/vzdump-lxc-9100-....tar.zst.
VOLID_RE = re.compile(r"^[a-z][a-z0-9\-_.]*[a-z0-9]:\S+$", re.IGNORECASE)
# PVE's tag format (pve-tag): lower case here so tags compare stably.
TAG_RE = re.compile(r"^[a-z0-9_][a-z0-9_\-+.]*$")
BRIDGE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,14}$")
# VMIDs PVE hands out: 100 .. 999999999 (pve-vmid).
VMID_MIN, VMID_MAX = 100, 999_999_999


class Checker:
    """Collects failures while normalising one resource's inputs."""

    def __init__(self, news: Mapping[str, Any]) -> None:
        self.news = news
        self.failures: list[CheckFailure] = []

    def fail(self, prop: str, reason: str) -> None:
        """Record a failure for ``prop`` (a field name, ``mounts[1].path`` for nested ones)."""
        self.failures.append(CheckFailure(prop, f"{prop}: {reason}"))

    def string(
        self,
        key: str,
        *,
        pattern: re.Pattern[str] | None = None,
        hint: str = "",
        default: str | None = None,
        value: Any = None,
    ) -> Any:
        """A non-empty string, optionally matching ``pattern``; Unknown passes through."""
        raw = self.news.get(key, default) if value is None else value
        if isinstance(raw, Unknown):
            return raw
        if raw is None:
            self.fail(key, "is required")
            return None
        if not isinstance(raw, str) or not raw.strip():
            self.fail(key, f"must be a non-empty string, got {raw!r}")
            return None
        if pattern is not None and not pattern.match(raw):
            self.fail(key, f"{raw!r} is not valid{': ' + hint if hint else ''}")
            return None
        return raw

    def integer(
        self,
        key: str,
        *,
        minimum: int,
        maximum: int | None = None,
        default: int | None = None,
        optional: bool = False,
        value: Any = None,
    ) -> Any:
        """An int (whole floats from the wire accepted) within bounds; Unknown passes."""
        raw = self.news.get(key, default) if value is None else value
        if isinstance(raw, Unknown):
            return raw
        if raw is None:
            if not optional:
                self.fail(key, "is required")
            return None
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            self.fail(key, f"must be an integer, got {raw!r}")
            return None
        if isinstance(raw, float) and not raw.is_integer():
            self.fail(key, f"must be a whole number, got {raw!r}")
            return None
        number = int(raw)
        if number < minimum or (maximum is not None and number > maximum):
            bounds = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
            self.fail(key, f"must be {bounds}, got {number}")
            return None
        return number

    def boolean(self, key: str, *, default: bool) -> Any:
        """A bool; Unknown passes."""
        raw = self.news.get(key, default)
        if isinstance(raw, Unknown):
            return raw
        if not isinstance(raw, bool):
            self.fail(key, f"must be true or false, got {raw!r}")
            return None
        return raw

    def tags(self, key: str) -> Any:
        """A sorted, de-duplicated list of PVE tags."""
        raw = self.news.get(key) or []
        if isinstance(raw, Unknown):
            return raw
        if not isinstance(raw, list | tuple):
            self.fail(key, "must be a list of strings")
            return []
        result: set[str] = set()
        for index, tag in enumerate(raw):
            if isinstance(tag, Unknown):
                return raw
            if not isinstance(tag, str) or not TAG_RE.match(tag):
                self.fail(
                    f"{key}[{index}]",
                    f"{tag!r} is not a PVE tag (lower case letters, digits, _ - + .)",
                )
                continue
            result.add(tag)
        return sorted(result)

    def mount_path(self, prop: str, raw: Any) -> Any:
        """An absolute, normalised mount path inside the guest (not ``/`` itself)."""
        if isinstance(raw, Unknown):
            return raw
        if not isinstance(raw, str) or not raw:
            self.fail(prop, "is required (an absolute path inside the guest)")
            return None
        if not raw.startswith("/"):
            self.fail(prop, f"{raw!r} must be an absolute path (start with /)")
            return None
        normal = posixpath.normpath(raw)
        if normal == "/" or ".." in raw.split("/") or "," in raw or "=" in raw:
            self.fail(prop, f"{raw!r} must be a plain absolute path below / (no .., comma, =)")
            return None
        return normal


def old_int(olds: Mapping[str, Any], key: str) -> int | None:
    """An old input as an int, or None when absent or unknown."""
    value = olds.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def finish_check(
    checker: Checker,
    news: Mapping[str, Any],
    inputs: Mapping[str, Any],
    table: DiffTable,
    to_spec: Callable[[Mapping[str, Any]], object],
) -> CheckResult:
    """The end of every ``check``: unknown inputs refused, the engine's spec validation as
    the last word (its rules live in one place), ``None`` values dropped, the provider kept."""
    extra = sorted(set(news) - table.inputs - {PROVIDER_KEY})
    if extra:
        checker.fail(extra[0], f"unknown input(s) {extra}")
    if not checker.failures and not is_unknown(inputs):
        try:
            to_spec(inputs)
        except ConfigError as exc:
            checker.fail(exc.field, exc.problem)
    # None values are dropped on the wire anyway; dropping them here keeps inputs tidy.
    cleaned = {k: v for k, v in inputs.items() if v is not None}
    if PROVIDER_KEY in news:
        cleaned[PROVIDER_KEY] = news[PROVIDER_KEY]
    return CheckResult(cleaned, checker.failures)
