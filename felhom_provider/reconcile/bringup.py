"""Guest bring-up (``FelhomGuest``): create, read, update and delete one customer guest.

create = verify archive -> adopt a leftover of ours, or allocate a VMID and restore in ONE
call -> read back and verify -> start -> DHCP lease -> SSH host keys. Every mutating step is
journaled; any failure undoes the journal in reverse (stop, destroy with purge, wait) and
raises with the journal attached (design §2.3, §2.9, §2.10).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from functools import partial

from felhom_provider.errors import FelhomError, HostKeyError, OwnershipError, VerificationError
from felhom_provider.pve.permissions import guest_bringup_privileges
from felhom_provider.pve.props import parse_pct_conf
from felhom_provider.reconcile import locks
from felhom_provider.reconcile.apply import Applier, lease_of
from felhom_provider.reconcile.engine_base import EngineBase
from felhom_provider.reconcile.hostkeys import HostKeys
from felhom_provider.reconcile.journal import Journal
from felhom_provider.reconcile.model import GuestSpec, GuestState, owner_of
from felhom_provider.reconcile.observe import mac_of, state_from
from felhom_provider.reconcile.plan import check_archive_config
from felhom_provider.reconcile.ports import HostKeyProbe, Progress, PveApi, ShellLike
from felhom_provider.reconcile.provision import Run, adopt, config_or_none, restore
from felhom_provider.reconcile.readback import verify_readback
from felhom_provider.reconcile.update_plan import plan_update

# vzdump names archives vzdump-lxc-<vmid>-<date>; restore checks VM.Backup on that vmid.
_ARCHIVE_OWNER_RE = re.compile(r"vzdump-lxc-(\d+)-")


def required_privileges(spec: GuestSpec) -> dict[str, set[str]]:
    """What the token needs for this guest's bring-up (``pve.permissions``)."""
    owner = _ARCHIVE_OWNER_RE.search(spec.archive)
    return guest_bringup_privileges(
        vmid=spec.vmid,
        storages={spec.rootfs_storage, *(m.storage for m in spec.mounts)},
        backup_storage=spec.archive.partition(":")[0],
        archive_owner_vmid=int(owner.group(1)) if owner else None,
        bridge=spec.bridge,
    )


class GuestEngine(EngineBase):
    """Brings customer guests up from the golden archive with the API token only.

    ``shell`` is the optional node shell, used only for the host-key fallback (design §2.4).
    ``progress`` receives one line per step; the resources show them in ``pulumi up``.
    ``clock``/``sleep`` drive every deadline, so tests never wait on the wall clock.
    """

    def __init__(
        self,
        client: PveApi,
        shell: ShellLike | None = None,
        *,
        guest_ssh_port: int = 22,
        progress: Progress | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        probe: HostKeyProbe | None = None,
        restores_per_node: int = locks.DEFAULT_RESTORES_PER_NODE,
        lease_timeout_s: float = 120.0,
        hostkey_timeout_s: float = 60.0,
        task_timeout_s: float = 600.0,
        poll_s: float = 1.0,
        vmid_attempts: int = 5,
    ) -> None:
        super().__init__(
            client,
            progress,
            clock=clock,
            sleep=sleep,
            task_timeout_s=task_timeout_s,
            lease_timeout_s=lease_timeout_s,
            poll_s=poll_s,
            vmid_attempts=vmid_attempts,
        )
        self.shell = shell
        self.guest_ssh_port = guest_ssh_port
        self.restores_per_node = restores_per_node
        self.keys = HostKeys(
            shell,
            probe,
            port=guest_ssh_port,
            clock=clock,
            sleep=sleep,
            timeout_s=hostkey_timeout_s,
            poll_s=poll_s,
        )

    def _run(self, spec: GuestSpec, verb: str) -> Run:
        journal = Journal(f"{verb} guest {spec.name} ({spec.owner})")
        return Run(spec=spec, journal=journal, say=self._say_for(spec.name))

    # -- create ---------------------------------------------------------------------------

    def create(self, spec: GuestSpec) -> GuestState:
        """Bring a guest up; on any failure undo what was done and raise (journal attached).

        Raises the original error (annotated with guest, step, ``rolled_back`` and
        ``.journal``) when the rollback succeeded, or ``RollbackError`` naming what is left.
        """
        run = self._run(spec, "create")
        with locks.serialised(spec.owner):
            return self._compensated(
                lambda: self._create(run),
                run.journal,
                self._applier(run.say),
                owner=spec.owner,
                name=spec.name,
                step=lambda: run.step,
                say=run.say,
            )

    def _create(self, run: Run) -> GuestState:
        spec, say, applier = run.spec, run.say, self._applier(run.say)
        run.step = "preflight"
        # One GET names every missing privilege before anything changes.
        self.client.preflight(required_privileges(spec))
        run.step = "verify-archive"
        say(f"verifying archive {spec.archive} (extractconfig)")
        raw = self.client.extractconfig(spec.archive)
        archive_cfg = parse_pct_conf(raw) if isinstance(raw, str) else dict(raw)
        run.facts = facts = check_archive_config(archive_cfg)
        run.journal.record(
            "verify-archive",
            {"archive": spec.archive},
            result={"mac": facts.mac, "hostname": facts.hostname, "features": facts.features},
        )
        if facts.problems:
            raise VerificationError(
                f"archive {spec.archive} is unfit: " + "; ".join(facts.problems),
                guest=spec.name,
                step=run.step,
            )
        run.step = "adopt"
        vmid = adopt(run, applier)
        if vmid is None:
            vmid = restore(
                run, applier, archive_cfg, slots=self.restores_per_node, attempts=self.vmid_attempts
            )
        run.vmid = vmid
        run.step = "read-back"
        config = self.client.get_config(vmid)
        problems = verify_readback(spec, config, facts.mac)
        run.journal.record("read-back", {"vmid": vmid}, result={"problems": problems})
        if problems:
            raise VerificationError(
                f"CT {vmid} read-back differs from the spec: " + "; ".join(problems),
                guest=spec.name,
                vmid=vmid,
                step=run.step,
            )
        mac = mac_of(config)
        say(f"CT {vmid} verified: fresh MAC {mac} (golden {facts.mac}), hostname {spec.hostname}")
        return self._bring_online(run, applier, vmid, mac=mac, old_keys=None)

    def _bring_online(
        self, run: Run, applier: Applier, vmid: int, *, mac: str, old_keys: dict[str, str] | None
    ) -> GuestState:
        """Start (if stopped), wait for the lease, make sure host keys exist, observe."""
        spec, say = run.spec, run.say
        run.step = "start"
        if str(self.client.status(vmid).get("status", "")) != "running":
            entry = run.journal.begin(
                "start", {"vmid": vmid}, undo={"op": "stop", "node": spec.node, "vmid": vmid}
            )
            say(f"starting CT {vmid}")
            result = applier.run("vzstart", vmid, "start", partial(self.client.start, vmid))
            run.journal.done(entry, str(getattr(result, "exitstatus", "OK")))
        run.step = "lease"
        say(f"waiting up to {self.lease_timeout_s:.0f}s for a DHCP lease on {mac}")
        ip = self._lease(vmid, mac)
        if not ip:
            raise VerificationError(
                f"CT {vmid} got no DHCP lease for {mac} within {self.lease_timeout_s:.0f}s",
                guest=spec.name,
                vmid=vmid,
                step=run.step,
            )
        run.journal.record("lease", {"vmid": vmid, "mac": mac}, result=ip)
        say(f"lease {ip}")
        run.step = "host-keys"
        keys = self.keys.ensure(vmid, ip, run.journal, say, guest=spec.name)
        if old_keys and keys != old_keys:
            raise HostKeyError(
                f"CT {vmid} now offers different SSH host keys than recorded",
                guest=spec.name,
                vmid=vmid,
                step=run.step,
            )
        say("ready; host keys " + ", ".join(f"{k} {v}" for k, v in sorted(keys.items())))
        return state_from(
            vmid,
            spec.node,
            self.client.get_config(vmid),
            status="running",
            ipv4=ip,
            host_keys=keys,
            owner=spec.owner,
        )

    # -- read / update / delete -------------------------------------------------------------

    def read(self, vmid: int, owner: str) -> GuestState | None:
        """Observe a guest; None when it is gone; OwnershipError when the VMID is not ours."""
        config = config_or_none(self._applier(self._progress), vmid)
        if config is None:
            return None
        if owner_of(config) != owner:
            raise OwnershipError(
                f"CT {vmid} carries owner {owner_of(config)!r}, not {owner!r}",
                vmid=vmid,
                step="read",
            )
        status = str(self.client.status(vmid).get("status", ""))
        ip = lease_of(self.client.interfaces(vmid), mac_of(config)) if status == "running" else None
        keys = self.keys.probe_once(ip) if ip else {}
        node = str(getattr(self.client, "node", "") or "")
        return state_from(vmid, node, config, status=status, ipv4=ip, host_keys=keys, owner=owner)

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
                exc.journal = run.journal  # type: ignore[attr-defined]
                raise

    def _update(self, run: Run, vmid: int, old: GuestState) -> GuestState:
        spec, say, applier = run.spec, run.say, self._applier(run.say)
        run.step, run.vmid = "observe", vmid
        config = self.client.get_config(vmid)
        if owner_of(config) not in (spec.owner, old.owner):
            raise OwnershipError(f"CT {vmid} carries owner {owner_of(config)!r}", vmid=vmid)
        running = str(self.client.status(vmid).get("status", "")) == "running"
        steps = plan_update(config, spec, running=running)
        if not steps:
            say("no in-place changes needed")
        for step in steps:
            run.step = step.kind
            entry = run.journal.begin(step.kind, {"vmid": vmid, **step.params})
            say(step.reason)
            if step.kind == "config":
                self.client.put_config(vmid, **step.params)
            elif step.kind == "resize":
                disk, size = str(step.params["disk"]), str(step.params["size"])
                applier.run("resize", vmid, "resize", partial(self.client.resize, vmid, disk, size))
            else:
                self._reboot(applier, vmid)
            run.journal.done(entry)
        if any(step.kind == "reboot" for step in steps):
            mac = mac_of(self.client.get_config(vmid))
            return self._bring_online(run, applier, vmid, mac=mac, old_keys=old.host_keys)
        return self.read(vmid, spec.owner) or old

    def _reboot(self, applier: Applier, vmid: int) -> None:
        """Clean shutdown (stop when it does not finish), then start."""
        try:
            applier.run(
                "vzshutdown", vmid, "shutdown", partial(self.client.shutdown, vmid, timeout=60)
            )
        except FelhomError:
            applier.run("vzstop", vmid, "stop", partial(self.client.stop, vmid))
        applier.run("vzstart", vmid, "start", partial(self.client.start, vmid))

    def delete(self, vmid: int, owner: str) -> None:
        """Stop, destroy with purge, verify gone. A missing guest counts as deleted.

        Raises OwnershipError (and touches nothing) when the CT does not carry ``owner``.
        """

        say = self._say_for(owner)
        with locks.serialised(owner):
            if not self._applier(say).destroy(vmid, owner):
                say(f"CT {vmid} already gone")
