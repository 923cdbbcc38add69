"""Pure input validation for ``check``: walk a resource's field table, never do I/O.

Each field of the table (``felhom_provider.spec``) is read from the raw inputs, defaulted,
validated by its own full-match validator and normalised; a failure names the field
(``network.gw``, ``mounts[1].path``). ``Unknown()`` values (preview) pass through untouched:
they are validated on the run that knows them.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from pulumi.dynamic import CheckFailure, CheckResult

from felhom_provider.errors import ConfigError
from felhom_provider.resources._diff import PROVIDER_KEY, canonical, is_unknown
from felhom_provider.spec.field import FieldError, Table


class Checker:
    """Collects failures while normalising one resource's inputs."""

    def __init__(self, news: Mapping[str, Any]) -> None:
        self.news = news
        self.failures: list[CheckFailure] = []

    def fail(self, prop: str, reason: str) -> None:
        """Record a failure for ``prop`` (a field name, ``mounts[1].path`` for nested ones)."""
        self.failures.append(CheckFailure(prop, f"{prop}: {reason}"))

    def walk(self, table: Table, defaults: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Every field of ``table``: defaulted, validated, normalised (None when unset)."""
        inputs: dict[str, Any] = {}
        for fld in table.fields:
            raw = self.news.get(fld.key)
            if raw is None:
                raw = (defaults or {}).get(fld.key, copy.deepcopy(fld.default))
            if is_unknown(raw):
                inputs[fld.key] = raw
                continue
            if raw is None:
                if fld.required:
                    self.fail(fld.key, "is required")
                inputs[fld.key] = None
                continue
            try:
                inputs[fld.key] = fld.validate(canonical(raw))
            except FieldError as exc:
                self.fail(fld.key + exc.path, exc.reason)
                inputs[fld.key] = None
            except ValueError as exc:
                self.fail(fld.key, str(exc))
                inputs[fld.key] = None
        return inputs


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
    table: Table,
    to_spec: Callable[[Mapping[str, Any]], object],
) -> CheckResult:
    """The end of every ``check``: unknown inputs refused, the engine's spec construction as
    the last word, ``None`` values dropped, the provider kept."""
    extra = sorted(set(news) - set(table.by_key) - {PROVIDER_KEY})
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
