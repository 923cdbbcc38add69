"""The provision half of guest create: adopt a leftover of ours, or restore in ONE call.

Split from ``bringup`` so each module keeps one concern: this one owns VMID allocation
(nextid, re-roll on ``already exists``), the restore dispatch that is never sent twice, and
adoption of a half-made guest a killed run left behind (design §2.3, §2.9, §2.10).
"""

from __future__ import annotations

import random
import time
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from typing import Any

from felhom_provider.errors import (
    AlreadyExistsError,
    ConnectionLostError,
    FelhomError,
    NotFoundError,
    OwnershipError,
    VerificationError,
)
from felhom_provider.pve.props import split_tags
from felhom_provider.reconcile import locks, vmids
from felhom_provider.reconcile.apply import NEVER_STARTED, TASK_CLOCK_SKEW_S, Applier
from felhom_provider.reconcile.journal import Journal
from felhom_provider.reconcile.model import GuestSpec, owner_of, owner_tag
from felhom_provider.reconcile.plan import ArchiveFacts, plan_restore
from felhom_provider.reconcile.ports import Progress
from felhom_provider.reconcile.readback import verify_readback
from felhom_provider.reconcile.undo import DestroyCT

# Keys of the restore call that are not config overrides.
_CALL_KEYS = ("vmid", "ostemplate", "restore")


@dataclass
class Run:
    """One engine call in progress: what it is about and how far it got."""

    spec: GuestSpec
    journal: Journal
    say: Progress
    step: str = "begin"
    vmid: int | None = None
    facts: ArchiveFacts | None = None

    def destroy_undo(self, vmid: int) -> DestroyCT:
        """The undo that compensates a CT this run made or adopted."""
        return DestroyCT(vmid=vmid, node=self.spec.node, owner=self.spec.owner)


def config_or_none(applier: Applier, vmid: int) -> dict[str, Any] | None:
    """A CT's config, or None when it does not exist."""
    try:
        return applier.client.get_config(vmid)
    except NotFoundError:
        return None


def adopt(run: Run, applier: Applier) -> int | None:
    """Find CTs carrying this resource's marker (a killed run's leftovers).

    The first that verifies against the spec is adopted (journaled with a destroy undo, so a
    later failure still cleans it) and the caller finishes it. One that does not verify is
    destroyed only when it still carries the never-started mark written at restore (see
    ``NEVER_STARTED``) and is stopped: a half-made guest that cannot hold data. Any other one
    (started by this tool at least once, so it may hold a customer's data, e.g. a guest whose
    state entry was lost) stops the create with an error naming it and how to import or
    remove it. CTs under ``lock: create`` that no thread of this process is restoring may be
    a killed run's restore still running inside PVE: wait for it to finish, then look. A
    pinned VMID whose CT carries another owner's marker raises ``OwnershipError``.
    """
    spec = run.spec
    tag = owner_tag(spec.owner)
    found: list[tuple[int, dict[str, Any]]] = []
    for ct in applier.client.list_lxc():
        vmid = int(ct["vmid"])
        mine = tag in split_tags(ct.get("tags")) or vmid == spec.vmid
        pending = ct.get("lock") == "create" and not locks.is_inflight(spec.node, vmid)
        if not (mine or pending):
            continue
        config = applier.wait_unlocked(vmid) if pending else config_or_none(applier, vmid)
        if config is not None and owner_of(config) == spec.owner:
            found.append((vmid, config))
        elif config is not None and vmid == spec.vmid and owner_of(config) is not None:
            # Another owner's marker (e.g. a same-named stack in another backend): say so
            # rather than send a restore that PVE answers with "already exists".
            raise OwnershipError(_not_ours(spec, vmid, str(owner_of(config))), **_ctx(run, vmid))
    golden_mac = run.facts.mac if run.facts else None
    keep: int | None = None
    for vmid, config in sorted(found):
        fits = spec.vmid is None or vmid == spec.vmid
        problems = verify_readback(spec, config, golden_mac)
        if keep is None and fits and not problems:
            keep = vmid
            run.journal.record("adopt", {"vmid": vmid}, undo=run.destroy_undo(vmid))
            run.say(f"adopting CT {vmid}: a previous run left it restored and verified")
            continue
        status = str(applier.client.status(vmid).get("status", ""))
        if status == "running" or not never_started(config):
            raise VerificationError(_refusal(run, vmid, status, problems), **_ctx(run, vmid))
        run.say(f"destroying CT {vmid}: a previous run's never-started leftover that differs")
        entry = run.journal.begin("clean-leftover", {"vmid": vmid, "problems": problems})
        applier.destroy(vmid, spec.owner)
        run.journal.done(entry)
    return keep


def never_started(config: dict[str, Any]) -> bool:
    """True when the CT's description still carries the mark written at restore."""
    return NEVER_STARTED in str(config.get("description") or "").splitlines()


def _refusal(run: Run, vmid: int, status: str, problems: list[str]) -> str:
    why = "; ".join(problems) or "another CT was adopted for this guest"
    return (
        f"CT {vmid} carries this resource's marker ({run.spec.owner}) but is not in this "
        f"stack's state and differs from the spec ({why}); it is {status or 'in an unknown state'} "
        "and has been started by this tool, so it may hold customer data and is left alone. "
        f"To keep it: make the guest's config match it (pin vmid: {vmid}) and run again, and "
        f"it is adopted as it is. To remove it: check its data, then `pct destroy {vmid} "
        "--purge` on the node, and run again"
    )


def _not_ours(spec: GuestSpec, vmid: int, found: str) -> str:
    """Why a pinned VMID that carries another marker is refused, and the ways out."""
    # ``<stackId>:<project>/<stack>/<name>``; the id is what precedes the first ``:``.
    head, sep, _ = found.partition(":")
    stack_id = head if sep and "/" not in head else ""
    recover = (
        f"; if it is this stack's guest and the stack's state was lost, set "
        f"`felhom:stackId` to {stack_id} and run again"
        if stack_id
        else ""
    )
    return (
        f"CT {vmid} (the pinned vmid) is owned by another stack or resource: it carries "
        f"owner {found!r}, not {spec.owner!r}; not touching it. Pin another vmid{recover}"
    )


def _ctx(run: Run, vmid: int) -> dict[str, Any]:
    return {"guest": run.spec.name, "vmid": vmid, "step": "adopt"}


def restore(
    run: Run,
    applier: Applier,
    archive_cfg: dict[str, Any],
    *,
    slots: int,
    attempts: int,
    rng: random.Random | None = None,
) -> int:
    """Allocate a VMID and restore in ONE call, waiting for the task; returns the VMID.

    At most ``slots`` restores run per node. ``nextid`` and the POST happen under the
    node's allocation lock (``nextid`` is no reservation); ``already exists`` from another
    process re-rolls, up to ``attempts`` times, unless the VMID is pinned. Each re-roll asks
    for ``nextid`` plus a widening random offset (``vmids``), so processes that lost the same
    id do not all collide on the next one.
    """
    spec = run.spec
    with locks.restore_slot(spec.node, slots):
        for attempt in range(1, attempts + 1):
            with ExitStack() as inflight:
                with locks.allocation_lock(spec.node):
                    run.step = "allocate-vmid"
                    vmid = (
                        spec.vmid
                        if spec.vmid is not None
                        else vmids.candidate(int(applier.client.next_vmid()), attempt, rng)
                    )
                    # In flight from before the POST: the CT shows ``lock: create`` as soon as
                    # PVE takes the request, and a concurrent adoption scan must not wait on it.
                    inflight.enter_context(locks.inflight(spec.node, vmid))
                    try:
                        entry, upid = _dispatch(run, applier, vmid, archive_cfg)
                    except AlreadyExistsError as exc:
                        if spec.vmid is not None or attempt == attempts:
                            raise
                        run.say(f"VMID {vmid} was taken meanwhile ({exc.pve_message}); re-rolling")
                        continue
                run.vmid = vmid
                result = applier.wait(upid, "restore")
            exitstatus = str(getattr(result, "exitstatus", "OK"))
            run.journal.done(entry, {"upid": str(upid), "exitstatus": exitstatus})
            return vmid
    raise AssertionError("unreachable")  # pragma: no cover


def _dispatch(
    run: Run, applier: Applier, vmid: int, archive_cfg: dict[str, Any]
) -> tuple[Any, Any]:
    """Journal and send the restore POST; returns (journal entry, UPID)."""
    spec = run.spec
    params = plan_restore(spec, vmid, archive_cfg)
    overrides = {k: v for k, v in params.items() if k not in _CALL_KEYS}
    # The never-started mark: adoption may destroy this CT only while it is still there
    # (``Applier`` takes it out before the first start).
    overrides["description"] = str(overrides.get("description") or "") + NEVER_STARTED + "\n"
    run.step = "restore"
    entry = run.journal.begin(
        "restore",
        {"vmid": vmid, "archive": spec.archive, "overrides": overrides},
        undo=run.destroy_undo(vmid),
    )
    run.say(f"restoring CT {vmid} from {spec.archive} in one call ({', '.join(sorted(overrides))})")
    since = time.time() - TASK_CLOCK_SKEW_S
    try:
        upid = applier.dispatch(
            "vzrestore", vmid, partial(applier.client.restore_lxc, vmid, spec.archive, overrides)
        )
    except Exception as exc:
        # Refused before a task existed (already exists, 403, 400): nothing of ours to undo.
        # A lost answer whose task could not be found keeps its undo: the effect is unknown.
        lost = isinstance(exc, ConnectionLostError) or not isinstance(exc, FelhomError)
        run.journal.failed(entry, exc, keep_undo=lost)
        raise
    entry.result = {"upid": str(upid), "since": since}
    return entry, upid
