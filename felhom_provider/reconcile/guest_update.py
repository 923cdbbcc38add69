"""In-place updates of a guest: observe, plan (``update_plan``), apply with the digest.

A running guest is restarted only when a change reaches it only at start, and not at all
with ``restarts: deferred`` (the fields are then reported as pending). A config write that
PVE refuses because someone changed the config meanwhile is re-planned, not forced.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from felhom_provider.errors import FelhomError, OwnershipError, PveError
from felhom_provider.reconcile import locks
from felhom_provider.reconcile.apply import Applier
from felhom_provider.reconcile.guest_core import GuestCore
from felhom_provider.reconcile.hostkeys import VerifiedKeys
from felhom_provider.reconcile.model import GuestSpec, GuestState, owner_of
from felhom_provider.reconcile.observe import mac_of, state_from
from felhom_provider.reconcile.provision import Run
from felhom_provider.reconcile.update_plan import UpdatePlan, plan_update

#: Bounded re-plans when a concurrent edit changes the config under an update.
DIGEST_ATTEMPTS = 3


class GuestUpdates(GuestCore):
    """``update``: the in-place half of the guest engine."""

    def update(self, vmid: int, spec: GuestSpec, old: GuestState) -> GuestState:
        """Apply in-place changes (cores, memory, swap, hostname, tags, rootfs grow, mounts).

        A running guest is rebooted when a change takes full effect only at start; the
        progress log says so. Errors carry the journal; applied steps are not reverted
        (each one leaves a valid guest).
        """
        run = self._run(spec, "update")
        with locks.serialised(spec.owner):
            try:
                return self._update(run, vmid, old)
            except FelhomError as exc:
                exc.context.setdefault("guest", spec.name)
                exc.context.setdefault("step", run.step)
                exc.journal = run.journal
                raise

    def _update(self, run: Run, vmid: int, old: GuestState) -> GuestState:
        spec, say, applier = run.spec, run.say, self._applier(run.say)
        run.step, run.vmid = "observe", vmid
        plan, config = self._plan(run, vmid, old)
        for step in plan.steps:
            run.step = step.kind
            entry = run.journal.begin(step.kind, {"vmid": vmid, **step.params})
            say(step.reason)
            if step.kind == "config":
                self._put_config(run, vmid, step.params, old)
            elif step.kind == "resize":
                disk, size = str(step.params["disk"]), str(step.params["size"])
                applier.run("resize", vmid, "resize", partial(self.client.resize, vmid, disk, size))
            elif step.kind == "pool":
                self.client.set_pool(str(step.params["pool"]), vmid)
            else:
                self._reboot(applier, vmid)
            run.journal.done(entry)
        if plan.pending:
            say(
                "restart deferred (felhom:restarts: deferred): "
                + ", ".join(plan.pending)
                + " pending until the guest restarts"
            )
        if any(step.kind == "reboot" for step in plan.steps):
            mac = mac_of(self.client.get_config(vmid))
            ip, keys = self._bring_online(
                run, applier, vmid, mac=mac, old_keys=old.host_public_keys or None
            )
            return self._finish(run, vmid, ip, keys)
        config = self.client.get_config(vmid)
        running = self._running(vmid)
        address = self._address(vmid, config) if running else None
        if running and address is not None:
            keys = self.keys.ensure(
                vmid, address, run.journal, say, guest=spec.name, mode=spec.host_key_check
            )
        else:
            keys = VerifiedKeys(dict(old.host_public_keys))
        if running:
            return self._finish(run, vmid, address, keys, plan.pending)
        return state_from(
            vmid,
            spec.node,
            config,
            status="stopped",
            ipv4=None,
            host_keys=keys.fingerprints,
            public_keys=keys.public,
            owner=spec.owner,
            ssh_port=self.guest_ssh_port,
        )

    def _plan(self, run: Run, vmid: int, old: GuestState) -> tuple[UpdatePlan, dict[str, Any]]:
        """Observe the CT and plan; refuses a CT that is not ours."""
        spec = run.spec
        config = self.client.get_config(vmid)
        if owner_of(config) not in (spec.owner, old.owner):
            raise OwnershipError(f"CT {vmid} carries owner {owner_of(config)!r}", vmid=vmid)
        running = self._running(vmid)
        plan = plan_update(
            config,
            spec,
            running=running,
            pending=old.pending_restart,
            current_pool=self._pool_of(vmid, spec.pool),
        )
        if not plan.steps and not plan.pending:
            run.say("no in-place changes needed")
        return plan, config

    def _pool_of(self, vmid: int, wanted: str | None) -> str | None:
        """The pool the CT is in, as far as it matters: only asked when a pool is wanted."""
        if wanted is None:
            return None
        return wanted if self.client.in_pool(wanted, vmid) else None

    def _put_config(self, run: Run, vmid: int, params: dict[str, Any], old: GuestState) -> None:
        """``PUT config`` with the digest it was planned against. When PVE refuses it and
        the config has changed meanwhile (someone edited it in the UI), re-read and re-plan
        instead of overwriting, at most ``DIGEST_ATTEMPTS`` times."""
        for attempt in range(1, DIGEST_ATTEMPTS + 1):
            values = {k: v for k, v in params.items() if k not in ("delete", "digest")}
            try:
                self.client.put_config(
                    vmid, values, delete=params.get("delete") or (), digest=params.get("digest")
                )
                return
            except PveError:
                digest = params.get("digest")
                now = self.client.get_config(vmid).get("digest")
                if digest is None or now == digest or attempt == DIGEST_ATTEMPTS:
                    raise
                run.say("the config changed in PVE meanwhile (digest differs); re-planning")
                plan, _ = self._plan(run, vmid, old)
                fresh = [s for s in plan.steps if s.kind == "config"]
                if not fresh:
                    return
                params = fresh[0].params

    def _reboot(self, applier: Applier, vmid: int) -> None:
        """Clean shutdown (stop when it does not finish), then start."""
        try:
            applier.run(
                "vzshutdown", vmid, "shutdown", partial(self.client.shutdown, vmid, timeout=60)
            )
        except FelhomError:
            applier.run("vzstop", vmid, "stop", partial(self.client.stop, vmid))
        applier.run("vzstart", vmid, "start", partial(self.client.start, vmid))
