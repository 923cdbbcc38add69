"""Which VMID a restore asks for, when several processes allocate on one node at once.

``GET /cluster/nextid`` returns the lowest free VMID and reserves nothing (pve-manager
``PVE/API2/Cluster.pm`` ``nextid``); the id is taken only once a create or restore has
written its config, and a second POST for it fails with ``CT N already exists on node``
(pve-cluster ``check_vmid_unused``, design §4.12). Inside one provider process the allocation lock
(``locks.allocation_lock``) keeps two restores from asking for the same id. Across processes
(a fleet: one provider process per stack) nothing does: every process that calls ``nextid`` in
the same instant gets the same answer, one restore wins and the others get ``already exists``.

Asking ``nextid`` again after losing does not spread them: the losers all get the next id and
collide again, so with ten stacks starting together one of them can lose every attempt. After
a loss the next candidate is therefore ``nextid`` plus a random offset whose range doubles with
each loss (4, 8, 16, … up to ``SPREAD_CAP``): the losers fan out over the free ids above the
lowest one, and the chance that two of them pick the same id shrinks every round. The first
attempt always takes ``nextid`` itself, so a lone process gets the lowest free id as before.
A candidate inside the golden build range is never used (``spec.golden`` reserves it); the
plain ``nextid`` answer is taken instead.
"""

from __future__ import annotations

import random

from felhom_provider.spec.golden import RESERVED_FIRST, RESERVED_LAST

#: Restore attempts (first ``nextid`` plus re-rolls) before ``already exists`` is final.
ATTEMPTS = 8
#: The first re-roll's offset range; it doubles with every further loss.
FIRST_SPREAD = 4
#: The widest offset range: enough for tens of processes racing on one node.
SPREAD_CAP = 64

_RNG = random.Random()


def spread(attempt: int) -> int:
    """Range of the random offset on ``attempt`` (1-based): 1 (no offset) first, then doubling."""
    if attempt <= 1:
        return 1
    return min(SPREAD_CAP, FIRST_SPREAD << (attempt - 2))


def candidate(next_free: int, attempt: int, rng: random.Random | None = None) -> int:
    """The VMID to ask for on ``attempt``, given ``nextid``'s answer ``next_free``."""
    offset = (rng or _RNG).randrange(spread(attempt))
    chosen = next_free + offset
    if RESERVED_FIRST <= chosen <= RESERVED_LAST:
        return next_free
    return chosen
