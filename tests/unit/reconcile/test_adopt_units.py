"""``provision.adopt`` candidate selection: marker tag, pinned VMID, ``lock: create`` waits."""

from __future__ import annotations

from typing import Any

import pytest

from felhom_provider.errors import VerificationError
from felhom_provider.reconcile import locks
from felhom_provider.reconcile.apply import Applier
from felhom_provider.reconcile.journal import Journal
from felhom_provider.reconcile.model import owner_tag
from felhom_provider.reconcile.provision import Run, adopt

from .fakes import FakeClock, FakePve
from .test_engine_fakes import OWNER, engine, spec


class Unlocks(FakePve):
    """A CT under ``lock: create`` whose lock clears after ``reads`` config reads."""

    reads = 3

    def get_config(self, vmid: int, *, current: bool = False) -> dict[str, Any]:
        cfg = super().get_config(vmid)
        if cfg.get("lock"):
            self.reads -= 1
            if self.reads <= 0:
                del self.cts[vmid]["lock"]
        return cfg


def made(pve: FakePve) -> int:
    """A verified guest of OWNER left stopped, as a killed run leaves it."""
    state = engine(pve).create(spec())
    pve.running.discard(state.vmid)
    return state.vmid


def run_for(pve: FakePve, **over: Any) -> tuple[Run, Applier]:
    clock = FakeClock()
    app = Applier(pve, lambda _l: None, clock=clock, sleep=clock.sleep, task_timeout_s=60)
    return Run(spec(**over), Journal(subject="x"), lambda _l: None), app


def test_a_killed_runs_restore_under_lock_create_is_waited_for_then_adopted() -> None:
    pve = Unlocks()
    vmid = made(pve)
    pve.cts[vmid]["lock"] = "create"
    pve.cts[vmid]["tags"] = ""  # the tag is not set yet while PVE restores
    run, app = run_for(pve)
    assert adopt(run, app) == vmid
    assert pve.reads == 0 and run.journal.steps() == ["adopt"]


def test_a_restore_in_flight_in_this_process_is_not_waited_for() -> None:
    pve = Unlocks()
    vmid = made(pve)
    pve.cts[vmid].update(lock="create", tags="")
    run, app = run_for(pve)
    with locks.inflight(run.spec.node, vmid):
        assert adopt(run, app) is None
    assert pve.reads == 3  # never read


def test_candidates_are_tagged_or_pinned_only() -> None:
    pve = FakePve()
    vmid = made(pve)
    pve.cts[vmid]["tags"] = "felhom;other-tag"
    run, app = run_for(pve)
    pve.calls.clear()
    assert adopt(run, app) is None and ("get_config", vmid) not in pve.calls
    run, app = run_for(pve, vmid=vmid)  # pinned: found without the tag
    assert adopt(run, app) == vmid
    pve.cts[vmid]["tags"] = f"felhom;{owner_tag(OWNER)}"
    run, app = run_for(pve, vmid=vmid + 1)  # pinned elsewhere: ours but does not fit
    with pytest.raises(VerificationError, match=f"CT {vmid} carries"):  # started once: refused
        adopt(run, app)
    assert vmid in pve.cts
