"""Package names loaded on first use (PEP 562), shared by the package ``__init__`` files.

The Pulumi program runs once per ``pulumi up`` and imports only specs, settings and resource
classes; a package ``__init__`` that imported its whole public API eagerly would load the
engines, the PVE client and the SSH library on every run for nothing (about a fifth of a
second of CPU per stack, which a fleet of stacks pays many times over).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, homes: Mapping[str, str], namespace: dict[str, Any]
) -> Callable[[str], object]:
    """A module ``__getattr__`` that imports ``name`` from ``package.<homes[name]>`` once."""

    def load(name: str) -> object:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{home}"), name)
        namespace[name] = value  # later lookups find it without calling back here
        return value

    return load
