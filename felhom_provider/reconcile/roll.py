"""Roll a new golden image onto an existing guest, keeping its data and identity (issue 11).

``RollEngine.roll`` gives a guest a fresh root filesystem from the new archive while it keeps
its VMID, MAC (DHCP lease, IP), hostname, SSH host keys, tags, description, boot and network
config and every data volume, byte for byte. The mechanism and why (``docs/engine.md``,
"Rolling a new golden image"):

1. restore a **holder** CT from the new archive: stopped, protected, link down (no downtime);
2. shut the guest down; ``move_volume`` each ``mpN`` to the holder (PVE renames it to the
   holder's VMID; it always belongs to exactly one CT);
3. vzdump the stopped guest: the old root filesystem, kept until the new one is verified;
   its volid goes into the holder's description (the durable record);
4. clear ``protection`` if set (a restore over a protected CT is refused), restore the new
   archive over the guest (``force=1``) with every identity key, ``protection`` included;
5. ``move_volume`` the data back; read back, start, lease, SSH host keys (carried over the
   node shell), ``docker run hello-world``; mark the record verified (the commit point);
6. destroy the holder, delete the vzdump.

Any failure before the commit point rolls back from what PVE shows, not from memory: data
parked again on the holder, the old root filesystem restored from the vzdump over the
guest, data moved back, the guest started as it was. A run killed at any point is resumed
by the next ``roll`` of that guest the same way (rolled back before the commit point,
finished after it), then the roll starts afresh.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from felhom_provider.errors import (
    FelhomError,
    HostKeyError,
    OwnershipError,
    RollbackError,
    VerificationError,
)
from felhom_provider.pve.props import as_bool
from felhom_provider.reconcile import locks
from felhom_provider.reconcile.apply import lease_of, poll_until
from felhom_provider.reconcile.compensate import attach
from felhom_provider.reconcile.engine_base import GuestEngineBase
from felhom_provider.reconcile.hostkeys import VerifiedKeys
from felhom_provider.reconcile.journal import Journal
from felhom_provider.reconcile.model import GuestSpec, GuestState, owner_of
from felhom_provider.reconcile.observe import mac_of, state_from
from felhom_provider.reconcile.plan import archive_of, check_archive_config
from felhom_provider.reconcile.ports import Progress, RollApi, ShellLike
from felhom_provider.reconcile.roll_keys import (
    NO_SHELL_NOTE,
    docker_problem,
    read_host_keys,
    write_host_keys,
)
from felhom_provider.reconcile.roll_ops import RollOps
from felhom_provider.reconcile.roll_plan import (
    HolderRecord,
    RollPlan,
    backup_notes,
    data_mounts,
    holder_overrides,
    mounts_match,
    plan_roll,
    rebuilt_at_of,
    roll_outputs,
    rollback_overrides,
)
from felhom_provider.reconcile.rollout import RolloutGate


@dataclass(frozen=True)
class RollResult:
    """A guest after a roll: its state, the roll-out outputs and what the step log said."""

    state: GuestState
    archive: str
    rootfs_rebuilt_at: str | None
    host_keys_carried: bool
    notes: tuple[str, ...] = ()

    def outputs(self) -> dict[str, Any]:
        """``{archive, rootfsRebuiltAt}`` for the resource's outputs."""
        return {"archive": self.archive, "rootfsRebuiltAt": self.rootfs_rebuilt_at}


@dataclass
class _Roll:
    """One roll in progress."""

    spec: GuestSpec
    vmid: int
    ops: RollOps
    say: Progress
    backup_storage: str
    step: str = "observe"
    holder: int | None = None
    record: HolderRecord | None = None


class RollEngine(GuestEngineBase):
    """Rolls guests onto a new golden archive with the API token (plus the node shell for
    host keys and the Docker check). Same injection points as ``GuestEngine``."""

    def __init__(
        self,
        client: RollApi,
        shell: ShellLike | None = None,
        *,
        wallclock: Callable[[], float] = time.time,
        backup_storage: str | None = None,
        **guest_side: Any,
    ) -> None:
        """``guest_side``: the arguments of ``GuestEngineBase`` (port, clock, bounds, probe)."""
        super().__init__(client, shell, **guest_side)
        self.roll_client = client
        self.wallclock = wallclock
        self.backup_storage = backup_storage

    # --- public ---------------------------------------------------------------------------

    def roll(self, vmid: int, spec: GuestSpec, *, gate: RolloutGate | None = None) -> RollResult:
        """Put guest ``vmid`` on ``spec.archive``; a no-op when it already runs on it.

        First finishes or rolls back a roll of this guest that a killed run left. Raises
        ``VerificationError``/PVE errors (the guest back on its old root filesystem, data
        and identity kept, ``rolled_back`` in the context, ``.journal`` attached) or
        ``RollbackError`` naming what is left when even the roll-back failed.
        """
        run = self._run(vmid, spec)
        with locks.serialised(spec.owner):
            # Resuming a killed run's roll rebuilds a guest too: it counts against the
            # stack's parallelism, but a paused rollout never stops it.
            with gate.slot(spec.name, recovery=True) if gate is not None else nullcontext():
                self.resume(run)
            config = self.client.get_config(vmid)
            if owner_of(config) != spec.owner:
                raise OwnershipError(
                    f"CT {vmid} carries owner {owner_of(config)!r}, not {spec.owner!r}",
                    guest=spec.name,
                    vmid=vmid,
                    step="observe",
                )
            if archive_of(config) == spec.archive:
                run.say(f"already on {spec.archive}; no roll needed")
                return self._result(config, self._observed(run, config), carried=True)
            with gate.slot(spec.name) if gate is not None else nullcontext():
                try:
                    return self._roll(run, config)
                except FelhomError as exc:
                    # Failures rolled back by ``_fail`` already name their step; the others
                    # (an unfit archive, the clean-up after the commit point) get it here.
                    exc.context.setdefault("guest", spec.name)
                    exc.context.setdefault("vmid", vmid)
                    exc.context.setdefault("step", run.step)
                    raise

    def recover(self, vmid: int, spec: GuestSpec) -> str | None:
        """Finish or roll back an interrupted roll of this guest; what was done, or None."""
        with locks.serialised(spec.owner):
            return self.resume(self._run(vmid, spec))

    # --- the roll -------------------------------------------------------------------------

    def _run(self, vmid: int, spec: GuestSpec) -> _Roll:
        say = self._say_for(spec.name)
        journal = Journal(f"roll guest {spec.name} ({spec.owner}) to {spec.archive}")
        ops = RollOps(
            self.roll_client,
            self._applier(say),
            journal,
            say,
            node=spec.node,
            restore_slots=self.restores_per_node,
            vmid_attempts=self.vmid_attempts,
        )
        storage = self.backup_storage or spec.archive.split(":", 1)[0]
        return _Roll(spec=spec, vmid=vmid, ops=ops, say=say, backup_storage=storage)

    def _roll(self, run: _Roll, config: dict[str, Any]) -> RollResult:
        spec, ops, vmid = run.spec, run.ops, run.vmid
        running = ops.running(vmid)
        rebuilt_at = datetime.fromtimestamp(self.wallclock(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        plan = plan_roll(
            config,
            vmid=vmid,
            owner=spec.owner,
            new_archive=spec.archive,
            running=running,
            rebuilt_at=rebuilt_at,
            min_rootfs_gib=spec.rootfs_gib,
        )
        run.step = "verify-archive"
        archive_cfg = ops.archive_config(spec.archive)
        problems = check_archive_config(archive_cfg).problems
        if problems:
            raise VerificationError(f"archive {spec.archive} is unfit: " + "; ".join(problems))
        run.say(
            f"rolling CT {vmid} from {plan.old_archive} to {spec.archive}: data mounts "
            f"{[m.path for m in plan.mounts]} kept, rootfs {plan.rootfs_gib} GiB"
        )
        run.record = HolderRecord(
            spec.owner, vmid, plan.old_archive, spec.archive, running, plan.protection
        )
        try:
            run.step = "read-identity"
            if not running:
                ops.start(vmid)  # the old keys and fingerprints are read from the running guest
            old_ip, old_public, old_keys = self._identity(run, plan)
            run.step = "holder"
            overrides = holder_overrides(
                run.record,
                storage=plan.rootfs_storage,
                archive_config=archive_cfg,
                bridge=spec.bridge,
            )
            run.holder = ops.create_holder(spec.archive, overrides)
            state = self._forward(run, plan, old_ip, old_public, old_keys)
        except Exception as exc:
            self._fail(run, exc)
            raise
        run.step = "cleanup"
        self._finish(run)
        config = self.client.get_config(vmid)
        if not running:
            state = replace(state, status="stopped", ipv4=None)
        return self._result(config, state, carried=old_keys is not None)

    def _identity(
        self, run: _Roll, plan: RollPlan
    ) -> tuple[str | None, dict[str, str], dict[str, str] | None]:
        """The old guest's lease, public host keys (read as ``hostKeyCheck`` says) and,
        with a node shell, its host key files (private halves included)."""
        ip = self._lease(run.vmid, plan.mac)
        public = self.keys.observe(run.vmid, ip, run.spec.host_key_check)
        keys = read_host_keys(self.shell, run.vmid) if self.shell is not None else None
        run.ops.journal.record(
            "read-identity",
            {"vmid": run.vmid},
            result={"ip": ip, "host_keys": VerifiedKeys(public).fingerprints},
        )
        if keys is None:
            run.say(NO_SHELL_NOTE)
        return ip, public, keys

    def _forward(
        self,
        run: _Roll,
        plan: RollPlan,
        old_ip: str | None,
        old_public: dict[str, str],
        old_keys: dict[str, str] | None,
    ) -> GuestState:
        spec, ops, vmid = run.spec, run.ops, run.vmid
        holder, record = run.holder, run.record
        assert holder is not None and record is not None
        run.step = "shutdown"
        ops.stop(vmid, clean=True)
        run.step = "park-data"
        for mount in plan.mounts:
            ops.move(vmid, mount.key, holder)
        run.step = "backup-old-rootfs"
        notes = backup_notes(spec.owner, plan.old_archive)
        record = run.record = replace(
            record, backup=ops.backup(vmid, run.backup_storage, notes, spec.owner)
        )
        ops.write_record(holder, record)
        run.step = "restore-new-rootfs"
        if plan.protection:
            ops.set_protection(vmid, on=False)
        ops.restore(vmid, spec.archive, plan.restore_overrides, over=True)
        run.step = "return-data"
        for mount in plan.mounts:
            ops.move(holder, mount.key, vmid)
        run.step = "read-back"
        self._check_readback(run, plan)
        run.step = "start"
        ops.start(vmid)
        run.step = "lease"
        ip = self._lease(vmid, plan.mac)
        if not ip:
            raise VerificationError(
                f"CT {vmid} got no DHCP lease for {plan.mac} within {self.lease_timeout_s:.0f}s"
            )
        if old_ip and ip != old_ip:
            run.say(f"note: lease {ip} differs from the old {old_ip} (same MAC {plan.mac})")
        run.step = "host-keys"
        keys = self._carry_keys(run, ip, old_public, old_keys)
        run.step = "docker"
        self._check_docker(run)
        state = self._state(run, self.client.get_config(vmid), "running", ip, keys)
        run.step = "commit"
        run.record = replace(record, verified=True)
        ops.write_record(holder, run.record)
        run.say(f"verified on {spec.archive}; discarding the old root filesystem")
        return state

    def _check_readback(self, run: _Roll, plan: RollPlan) -> None:
        config = self.client.get_config(run.vmid)
        problems = mounts_match(plan.mounts, data_mounts(config))
        if mac_of(config) != plan.mac:
            problems.append(f"MAC {mac_of(config)} instead of {plan.mac}")
        if str(config.get("hostname", "")) != plan.hostname:
            problems.append(f"hostname {config.get('hostname')!r} instead of {plan.hostname!r}")
        if archive_of(config) != plan.new_archive:
            problems.append(f"archive {archive_of(config)!r} instead of {plan.new_archive!r}")
        if owner_of(config) != plan.owner:
            problems.append(f"owner {owner_of(config)!r}")
        if as_bool(config.get("protection")) != plan.protection:
            problems.append(f"protection {config.get('protection')!r}")
        for key in ("tags", "onboot", "startup", "cores", "memory", "swap"):
            want = plan.restore_overrides.get(key)
            if want is not None and str(config.get(key)) != str(want):
                problems.append(f"{key} {config.get(key)!r} instead of {want!r}")
        if problems:
            raise VerificationError(
                f"CT {run.vmid} read-back after the restore differs: " + "; ".join(problems)
            )

    def _carry_keys(
        self, run: _Roll, ip: str, old_public: dict[str, str], old_keys: dict[str, str] | None
    ) -> VerifiedKeys:
        """Write the old host key files back and require the guest to present them (as
        ``hostKeyCheck`` reads them); without a node shell, verify and publish new keys."""
        mode = run.spec.host_key_check
        if self.shell is None or old_keys is None:
            run.say(NO_SHELL_NOTE)
            return self.keys.ensure(
                run.vmid, ip, run.ops.journal, run.say, guest=run.spec.name, mode=mode
            )
        entry = run.ops.journal.begin(
            "carry-host-keys", {"vmid": run.vmid, "files": sorted(old_keys)}
        )
        run.say("writing the old SSH host keys into the new root filesystem; restarting ssh")
        write_host_keys(self.shell, run.vmid, old_keys)
        run.ops.journal.done(entry)

        def presented() -> dict[str, str] | None:
            got = self.keys.observe(run.vmid, ip, mode)
            return got if got and (not old_public or got == old_public) else None

        public = poll_until(self.clock, self.sleep, self.keys.timeout_s, self.poll_s, presented)
        if not public:
            want = VerifiedKeys(old_public).fingerprints
            got = VerifiedKeys(self.keys.observe(run.vmid, ip, mode)).fingerprints
            raise HostKeyError(
                f"CT {run.vmid} does not present its old SSH host keys after they were "
                f"written back (want {want}, got {got})"
            )
        keys = VerifiedKeys(dict(public))
        run.say(
            "host keys carried over: "
            + ", ".join(f"{k} {v}" for k, v in sorted(keys.fingerprints.items()))
        )
        return keys

    def _check_docker(self, run: _Roll) -> None:
        if self.shell is None:
            run.say("Docker not checked: no node shell configured to run hello-world")
            return
        problem = docker_problem(self.shell, run.vmid)
        run.ops.journal.record("docker", {"vmid": run.vmid}, result=problem or "greets")
        if problem:
            raise VerificationError(f"CT {run.vmid}: {problem}")

    # --- commit, roll-back, resume --------------------------------------------------------

    def _finish(self, run: _Roll) -> None:
        """After the commit point: destroy the holder, delete the old root filesystem."""
        ops, record = run.ops, run.record
        assert record is not None and run.holder is not None
        ops.destroy_holder(run.holder, run.spec.owner)
        for volid in {*(v for v in [record.backup] if v), *self._backups(run)}:
            ops.delete_backup(run.backup_storage, volid)
        if not record.running:
            ops.stop(run.vmid, clean=True)

    def _backups(self, run: _Roll) -> list[str]:
        return run.ops.find_backups(run.backup_storage, run.spec.owner, run.vmid)

    def _roll_back(self, run: _Roll) -> str:
        """Put the guest back on its old root filesystem, reading where things are from PVE.

        Works after a failure in this run and after a SIGKILL alike: the holder's record
        names the vzdump of the old root filesystem; the data is wherever PVE says it is.
        """
        ops, vmid, holder, record = run.ops, run.vmid, run.holder, run.record
        assert holder is not None and record is not None
        config = ops.config_or_none(vmid)
        on_new = config is not None and (archive_of(config) or "") != record.old_archive
        if config is None or (record.backup and on_new):
            if not record.backup:
                raise FelhomError(f"CT {vmid} is gone and no vzdump of it was recorded")
            old = rollback_overrides(ops.archive_config(record.backup))
            if config is not None:
                ops.stop(vmid, clean=False)
                for mount in data_mounts(config):
                    ops.move(vmid, mount.key, holder)
                if as_bool(config.get("protection")):
                    ops.set_protection(vmid, on=False)
            ops.restore(vmid, record.backup, old, over=config is not None)
        held = ops.config_or_none(holder) or {}
        for mount in data_mounts(held):
            ops.move(holder, mount.key, vmid)
        restored = ops.config_or_none(vmid) or {}
        if record.protected and not as_bool(restored.get("protection")):
            ops.set_protection(vmid, on=True, undo=False)
        if record.running and not ops.running(vmid):
            ops.start(vmid)
        ops.destroy_holder(holder, run.spec.owner)
        for volid in {*(v for v in [record.backup] if v), *self._backups(run)}:
            ops.delete_backup(run.backup_storage, volid)
        return f"CT {vmid} back on {record.old_archive} with its data"

    def _fail(self, run: _Roll, exc: Exception) -> None:
        """Roll back after ``exc``; annotate it, or raise ``RollbackError`` naming what is left."""
        failed_step = run.step
        run.say(f"roll failed at {failed_step}: {exc}; putting the old root filesystem back")
        try:
            if run.holder is None:
                # Failed before or while the holder was made: a half-made holder is found
                # by its marker; a guest started only to read its keys is stopped again.
                done = self.resume(run) or f"CT {run.vmid} untouched"
            else:
                done = self._roll_back(run)
            if run.record is not None and not run.record.running:
                run.ops.stop(run.vmid, clean=True)
        except Exception as uerr:
            leftovers = [f"holder CT {run.holder} (protected) may hold the data volumes"]
            if run.record and run.record.backup:
                leftovers.append(f"old root filesystem in {run.record.backup}")
            err = RollbackError(
                f"{run.spec.name}: roll failed at {failed_step} ({exc}) and the roll-back "
                f"failed too ({uerr}); run again to resume, or see: " + "; ".join(leftovers),
                leftovers=leftovers,
                cause=exc,
                guest=run.spec.name,
                vmid=run.vmid,
                step=failed_step,
            )
            err.journal = run.ops.journal
            raise err from exc
        run.say(f"rolled back: {done}")
        if isinstance(exc, FelhomError):
            # ``roll`` adds the guest and VMID; the failed step wins over the one an error
            # of a lower layer names (a task's kind, a shell command).
            exc.context["step"] = failed_step
            exc.context["rolled_back"] = done
        attach(exc, run.ops.journal)

    def resume(self, run: _Roll) -> str | None:
        """Finish (after the commit point) or roll back (before it) a killed run's roll."""
        found = run.ops.find_holder(run.spec.owner, run.vmid)
        if found is None:
            for volid in self._backups(run):  # killed between holder destroy and cleanup
                run.ops.delete_backup(run.backup_storage, volid)
            return None
        run.holder, run.record = found
        if run.record.verified:
            run.say(f"finishing an interrupted roll to {run.record.new_archive} (verified)")
            self._finish(run)
            return f"finished the roll of CT {run.vmid} to {run.record.new_archive}"
        run.say(f"rolling back an interrupted roll to {run.record.new_archive} (not verified)")
        return self._roll_back(run)

    def _state(
        self, run: _Roll, config: dict[str, Any], status: str, ip: str | None, keys: VerifiedKeys
    ) -> GuestState:
        """The published state, with full public host keys and fingerprints as a bring-up."""
        return state_from(
            run.vmid,
            run.spec.node,
            config,
            status=status,
            ipv4=ip,
            host_keys=keys.fingerprints,
            public_keys=keys.public,
            owner=run.spec.owner,
            ssh_port=self.keys.port,
        )

    def _observed(self, run: _Roll, config: dict[str, Any]) -> GuestState:
        """The published state of a guest that needs no roll, read from PVE as it is now."""
        status = str(self.client.status(run.vmid).get("status", ""))
        ip = (
            lease_of(self.client.interfaces(run.vmid), mac_of(config))
            if status == "running"
            else None
        )
        public = self.keys.observe(run.vmid, ip, run.spec.host_key_check) if ip else {}
        return self._state(run, config, status, ip, VerifiedKeys(public))

    @staticmethod
    def _result(config: dict[str, Any], state: GuestState, *, carried: bool) -> RollResult:
        outputs = roll_outputs(config)
        return RollResult(
            state=state,
            archive=str(outputs["archive"]),
            rootfs_rebuilt_at=rebuilt_at_of(config),
            host_keys_carried=carried,
        )
