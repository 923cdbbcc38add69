"""Guest bring-up (``FelhomGuest``): create, read, update and delete one customer guest.

create = verify archive -> adopt a leftover of ours, or allocate a VMID and restore in ONE
call -> read back and verify -> start -> DHCP lease -> SSH host keys. Every mutating step is
journaled; any failure undoes the journal in reverse (stop, destroy with purge, wait) and
raises with the journal attached (DESIGN §2.3, §2.9, §2.10).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from felhom_provider.errors import (
    FelhomError,
    HostKeyError,
    NotFoundError,
    OwnershipError,
    PveError,
    VerificationError,
)
from felhom_provider.pve.permissions import guest_bringup_privileges
from felhom_provider.pve.props import as_bool, parse_pct_conf, split_tags
from felhom_provider.reconcile import locks
from felhom_provider.reconcile.access import sync_keys
from felhom_provider.reconcile.apply import Applier, lease_of
from felhom_provider.reconcile.engine_base import EngineBase
from felhom_provider.reconcile.hostkeys import HostKeys, VerifiedKeys
from felhom_provider.reconcile.journal import Journal
from felhom_provider.reconcile.model import FELHOM_TAG, GuestSpec, GuestState, owner_of, owner_tag
from felhom_provider.reconcile.netconf import network_of
from felhom_provider.reconcile.observe import mac_of, state_from
from felhom_provider.reconcile.plan import check_archive_config, describe
from felhom_provider.reconcile.ports import HostKeyProbe, Progress, PveApi, ShellLike
from felhom_provider.reconcile.provision import Run, adopt, config_or_none, restore
from felhom_provider.reconcile.readback import verify_readback
from felhom_provider.reconcile.update_plan import UpdatePlan, plan_update

# vzdump names archives vzdump-lxc-<vmid>-<date>; restore checks VM.Backup on that vmid.
_ARCHIVE_OWNER_RE = re.compile(r"vzdump-lxc-(\d+)-")
#: Bounded re-plans when a concurrent edit changes the config under an update.
DIGEST_ATTEMPTS = 3


def required_privileges(spec: GuestSpec) -> dict[str, set[str]]:
    """What the token needs for this guest's bring-up (``pve.permissions``)."""
    owner = _ARCHIVE_OWNER_RE.search(spec.archive)
    return guest_bringup_privileges(
        vmid=spec.vmid,
        storages={spec.rootfs_storage, *(m.storage for m in spec.mounts)},
        backup_storage=spec.archive.partition(":")[0],
        archive_owner_vmid=int(owner.group(1)) if owner else None,
        bridge=spec.bridge,
        vlan=spec.network.get("vlan"),
        pool=spec.pool,
    )


class GuestEngine(EngineBase):
    """Brings customer guests up from the golden archive with the API token only.

    ``shell`` is the optional node shell, used only for the host-key fallback (DESIGN §2.4).
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
        if spec.import_ is not None:
            return self._import(run, applier, spec.import_)
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
        ip, keys = self._bring_online(run, applier, vmid, mac=mac, old_keys=None)
        return self._finish(run, vmid, ip, keys, fresh=True)

    def _finish(
        self,
        run: Run,
        vmid: int,
        ip: str | None,
        keys: VerifiedKeys,
        pending: tuple[str, ...] = (),
        *,
        fresh: bool = False,
    ) -> GuestState:
        """Authorized keys, then PVE's protection flag, then the observed state.

        Protection comes last so that a failed create can still be rolled back (PVE refuses
        to destroy a protected CT: ``LXC.pm`` ``check_protection``).
        """
        spec = run.spec
        run.step = "authorized-keys"
        if spec.authorized_keys or not fresh:  # a fresh guest has no keys to take away
            sync_keys(self.shell, vmid, spec.authorized_keys, run.journal, run.say, guest=spec.name)
        config = self.client.get_config(vmid)
        if spec.protection and not as_bool(config.get("protection", 0)):
            run.step = "protection"
            run.say("setting PVE protection=1 (no destroy or disk removal until cleared)")
            self.client.put_config(vmid, protection=1, digest=config.get("digest"))
            config = self.client.get_config(vmid)
        status = str(self.client.status(vmid).get("status", ""))
        return state_from(
            vmid,
            spec.node,
            config,
            status=status or "running",
            ipv4=ip,
            host_keys=keys.fingerprints,
            public_keys=keys.public,
            owner=spec.owner,
            ssh_port=self.guest_ssh_port,
            pending=pending,
        )

    def _import(self, run: Run, applier: Applier, vmid: int) -> GuestState:
        """Adopt an existing CT as it is (``import``): mark it ours, restart nothing.

        A CT whose marker names another owner is refused. The marker and our tags are
        fast-plug writes; everything else stays as found and becomes the state, so the next
        ``up`` applies only the declared differences.
        """
        spec, say = run.spec, run.say
        run.step, run.vmid = "import", vmid
        config = config_or_none(applier, vmid)
        if config is None:
            raise VerificationError(
                f"CT {vmid} to import does not exist", guest=spec.name, vmid=vmid, step="import"
            )
        found = owner_of(config)
        if found not in (None, spec.owner):
            raise OwnershipError(
                f"CT {vmid} carries owner {found!r}, not {spec.owner!r}: another stack or "
                "resource manages it; not importing",
                guest=spec.name,
                vmid=vmid,
                step="import",
            )
        if found is None:
            say(f"importing CT {vmid}: writing the ownership marker and tags (no restart)")
            rest = str(config.get("description") or "")
            tags = sorted({*split_tags(config.get("tags")), FELHOM_TAG, owner_tag(spec.owner)})
            self.client.put_config(
                vmid,
                description=describe(spec.owner, spec.archive) + rest,
                tags=";".join(tags),
                digest=config.get("digest"),
            )
            run.journal.record("import", {"vmid": vmid})
        running = str(self.client.status(vmid).get("status", "")) == "running"
        if running and spec.authorized_keys:
            # A file in the guest, not PVE config: written now so the state does not claim
            # keys the guest lacks (no restart; a stopped CT gets them at the next update).
            sync_keys(self.shell, vmid, spec.authorized_keys, run.journal, say, guest=spec.name)
        config = self.client.get_config(vmid)
        ip = self._address(vmid, config) if running else None
        keys = (
            VerifiedKeys(self.keys.observe(vmid, ip, spec.host_key_check))
            if running
            else VerifiedKeys({})
        )
        return state_from(
            vmid,
            spec.node,
            config,
            status="running" if running else "stopped",
            ipv4=ip,
            host_keys=keys.fingerprints,
            public_keys=keys.public,
            owner=spec.owner,
            ssh_port=self.guest_ssh_port,
        )

    def _address(self, vmid: int, config: dict[str, Any]) -> str | None:
        """The guest's IPv4: its static address, else the lease PVE reports for its MAC."""
        ip = str(network_of(config).get("ip", "dhcp"))
        if ip not in ("dhcp", "manual"):
            return ip.split("/", 1)[0]
        return lease_of(self.client.interfaces(vmid), mac_of(config))

    def _bring_online(
        self, run: Run, applier: Applier, vmid: int, *, mac: str, old_keys: dict[str, str] | None
    ) -> tuple[str, VerifiedKeys]:
        """Start (if stopped), wait for the lease (a static guest has none to wait for),
        read and verify the host keys; returns (address, keys)."""
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
        ip = spec.static_ipv4
        if ip is not None:
            say(f"static address {ip}: no lease to wait for")
        else:
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
        keys = self.keys.ensure(
            vmid, ip, run.journal, say, guest=spec.name, mode=spec.host_key_check
        )
        if old_keys and keys.public != old_keys:
            raise HostKeyError(
                f"CT {vmid} now has different SSH host keys than recorded",
                guest=spec.name,
                vmid=vmid,
                step=run.step,
            )
        say("host keys " + ", ".join(f"{k} {v}" for k, v in sorted(keys.fingerprints.items())))
        return ip, keys

    # -- read / update / delete -------------------------------------------------------------

    def read(self, vmid: int, owner: str, host_key_check: str = "handshake") -> GuestState | None:
        """Observe a guest; None when it is gone; OwnershipError when the VMID is not ours.

        Host keys are read as ``host_key_check`` says; when they cannot be read now (the
        guest is stopped or unreachable) the state has none and the resource keeps the last
        verified ones, marked as not re-checked.
        """
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
        ip = self._address(vmid, config) if status == "running" else None
        public = self.keys.observe(vmid, ip, host_key_check) if status == "running" else {}
        keys = VerifiedKeys(public)
        node = str(getattr(self.client, "node", "") or "")
        return state_from(
            vmid,
            node,
            config,
            status=status,
            ipv4=ip,
            host_keys=keys.fingerprints,
            public_keys=keys.public,
            owner=owner,
            ssh_port=self.guest_ssh_port,
        )

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
        running = str(self.client.status(vmid).get("status", "")) == "running"
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
        running = str(self.client.status(vmid).get("status", "")) == "running"
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

    def delete(self, vmid: int, owner: str) -> None:
        """Stop, destroy with purge, verify gone. A missing guest counts as deleted.

        Raises OwnershipError (and touches nothing) when the CT does not carry ``owner``.
        """

        say = self._say_for(owner)
        with locks.serialised(owner):
            self._unprotect(vmid, owner, say)
            if not self._applier(say).destroy(vmid, owner):
                say(f"CT {vmid} already gone")

    def _unprotect(self, vmid: int, owner: str, say: Progress) -> None:
        """A deliberate destroy clears PVE's protection flag first (only on our own CT)."""
        try:
            config = self.client.get_config(vmid)
        except NotFoundError:
            return
        if owner_of(config) == owner and as_bool(config.get("protection", 0)):
            say(f"clearing PVE protection on CT {vmid} for a deliberate destroy")
            self.client.put_config(vmid, protection=0, digest=config.get("digest"))
