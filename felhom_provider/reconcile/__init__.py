"""The bring-up engine: observe -> plan -> apply -> undo, for guests and the golden image.

Public API: :class:`GuestEngine`, :class:`GoldenEngine`, the specs and states in
:mod:`felhom_provider.reconcile.model` and the :class:`Journal`.

The names are loaded on first use (PEP 562): the Pulumi program imports the specs through
``reconcile.model`` on every run, and must not pay for the engines, the PVE client and the
SSH library it never calls (the provider process loads them when it first needs them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from felhom_provider._lazy import lazy_exports

if TYPE_CHECKING:
    from felhom_provider.reconcile.bringup import GuestEngine
    from felhom_provider.reconcile.golden import GoldenEngine
    from felhom_provider.reconcile.journal import Journal, JournalEntry
    from felhom_provider.reconcile.model import (
        GoldenSpec,
        GoldenState,
        GuestSpec,
        GuestState,
        MountSpec,
    )

_HOMES = {
    "GuestEngine": "bringup",
    "GoldenEngine": "golden",
    "Journal": "journal",
    "JournalEntry": "journal",
    "GoldenSpec": "model",
    "GoldenState": "model",
    "GuestSpec": "model",
    "GuestState": "model",
    "MountSpec": "model",
}

__all__ = [
    "GoldenEngine",
    "GoldenSpec",
    "GoldenState",
    "GuestEngine",
    "GuestSpec",
    "GuestState",
    "Journal",
    "JournalEntry",
    "MountSpec",
]


__getattr__ = lazy_exports(__name__, _HOMES, globals())
