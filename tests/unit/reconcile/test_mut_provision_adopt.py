"""``reconcile.provision`` beyond ``test_mut_provision``: the adoption scan past CTs that are
not ours, how an own CT under another lock is read, the refusals' full text and context, and
the restore task's exit status in the journal (mutation-testing gaps)."""

from __future__ import annotations

from typing import Any

import pytest

from felhom_provider.errors import OwnershipError, VerificationError
from felhom_provider.reconcile.apply import NEVER_STARTED
from felhom_provider.reconcile.model import marker_for
from felhom_provider.reconcile.provision import adopt, restore

from .fakes import FakePve, Result
from .test_engine_fakes import OWNER
from .test_mut_provision import GOLDEN, _leftover, _run


def test_the_scan_goes_on_past_cts_that_are_not_ours() -> None:
    pve = FakePve()
    pve.cts[50] = {"hostname": "theirs", "description": "made by hand\n"}
    vmid = _leftover(pve)
    assert next(iter(pve.cts)) == 50 and vmid > 50  # listed first
    run, app, _ = _run(pve)
    assert adopt(run, app) == vmid


def test_an_own_ct_under_another_lock_is_read_once_not_waited_on() -> None:
    # Only ``lock: create`` may be a killed run's restore worth waiting for; an own CT under
    # another lock is judged as it is now (here: refused, it does not verify while locked).
    pve = FakePve()
    vmid = _leftover(pve)
    pve.cts[vmid]["lock"] = "backup"
    pve.calls.clear()
    run, app, _ = _run(pve)
    with pytest.raises(VerificationError, match=r"config still locked \(backup\)"):
        adopt(run, app)
    assert [c for c in pve.calls if c[0] == "get_config"] == [("get_config", vmid)]
    assert app.clock() == 0.0


def test_a_pinned_vmid_of_another_owner_is_refused_with_its_context() -> None:
    pve = FakePve()
    pve.cts[150] = {"hostname": "x", "description": marker_for("other/stack/x") + "\n"}
    run, app, _ = _run(pve, vmid=150)
    with pytest.raises(OwnershipError) as info:
        adopt(run, app)
    assert info.value.message.startswith("CT 150 (the pinned vmid) is owned by another stack")
    assert info.value.context == {"guest": run.spec.name, "vmid": 150, "step": "adopt"}
    assert pve.mutating() == []


@pytest.mark.parametrize(
    ("found", "recover"),
    [
        # ``<stackId>:<project>/<stack>/<name>``: the stack id is what precedes the first ``:``.
        ("s1a2:acme/dev/web", "s1a2"),
        ("s1a2:acme/dev:web", "s1a2"),
        # No ``:``, or a ``/`` before it: no stack id to offer.
        ("legacy", None),
        ("acme/dev:web", None),
    ],
)
def test_the_pinned_vmid_refusal_offers_the_stack_id_when_the_marker_has_one(
    found: str, recover: str | None
) -> None:
    pve = FakePve()
    pve.cts[150] = {"hostname": "x", "description": marker_for(found) + "\n"}
    run, app, _ = _run(pve, vmid=150)
    with pytest.raises(OwnershipError) as info:
        adopt(run, app)
    head = (
        f"CT 150 (the pinned vmid) is owned by another stack or resource: it carries owner "
        f"{found!r}, not {OWNER!r}; not touching it. Pin another vmid"
    )
    tail = (
        f"; if it is this stack's guest and the stack's state was lost, set "
        f"`felhom:stackId` to {recover} and run again"
        if recover
        else ""
    )
    assert info.value.message == head + tail


def test_a_running_leftover_is_refused_even_with_the_never_started_mark() -> None:
    pve = FakePve()
    vmid = _leftover(pve, memory="512", description=f"felhom-owner={OWNER}\n{NEVER_STARTED}\n")
    pve.running.add(vmid)
    run, app, _ = _run(pve)
    with pytest.raises(VerificationError, match="it is running and has been started"):
        adopt(run, app)
    assert vmid in pve.cts and "destroy" not in pve.mutating()


def refusal(vmid: int, why: str, status: str) -> str:
    return (
        f"CT {vmid} carries this resource's marker ({OWNER}) but is not in this stack's state "
        f"and differs from the spec ({why}); it is {status} and has been started by this "
        f"tool, so it may hold customer data and is left alone. To keep it: make the guest's "
        f"config match it (pin vmid: {vmid}) and run again, and it is adopted as it is. To "
        f"remove it: check its data, then `pct destroy {vmid} --purge` on the node, and run "
        "again"
    )


def test_the_refusal_joins_every_problem() -> None:
    pve = FakePve()
    vmid = _leftover(pve, memory="512", cores="4")
    run, app, _ = _run(pve)
    with pytest.raises(VerificationError) as info:
        adopt(run, app)
    assert info.value.message == refusal(vmid, "cores 4 != 2; memory 512 != 2048", "stopped")


def test_a_second_leftover_is_refused_naming_the_adopted_one_and_an_unknown_status() -> None:
    class NoStatus(FakePve):
        silent = False

        def status(self, vmid: int) -> dict[str, Any]:
            answer = super().status(vmid)
            return {} if self.silent else answer

    pve = NoStatus()
    first = _leftover(pve)
    pve.silent = True  # only the adoption scan meets a status answer without ``status``
    extra = first + 1
    pve.cts[extra] = dict(pve.cts[first])
    run, app, _ = _run(pve)
    with pytest.raises(VerificationError) as info:
        adopt(run, app)
    assert info.value.message == refusal(
        extra, "another CT was adopted for this guest", "in an unknown state"
    )


def test_the_restore_tasks_exit_status_is_journaled() -> None:
    class Warns(FakePve):
        def wait_task(self, upid: str, timeout_s: float, on_progress: Any = None) -> Any:
            super().wait_task(upid, timeout_s, on_progress)
            return Result("WARNINGS: 2")

    pve = Warns()
    run, app, _ = _run(pve)
    restore(run, app, GOLDEN, slots=1, attempts=1)
    assert run.journal.entries[0].result == {
        "upid": next(iter(pve.tasks)),
        "exitstatus": "WARNINGS: 2",
    }
