"""The bring-up engine: observe -> plan -> apply -> undo, for guests and the golden image.

Public API: :class:`GuestEngine`, :class:`GoldenEngine`, the specs and states in
:mod:`felhom_provider.reconcile.model` and the :class:`Journal`.
"""

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
