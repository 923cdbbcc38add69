"""The PVE operations a golden roll is made of, each one journaled (issue 11).

``roll.py`` decides the order; this module does one call at a time: the holder CT (find,
restore, record, destroy), ``move_volume`` between the guest and its holder, the vzdump of
the old root filesystem, ``protection`` on and off, the restore over the guest, start/stop.
Every mutating call is journaled with its undo *before* it is sent; the undo is carried out
by ``roll.py``'s state-driven roll-back, which reads PVE (not the journal), so it works the
same after a SIGKILL, when the in-memory journal is gone.
"""

from __future__ import annotations

from contextlib import ExitStack, suppress
from functools import partial
from typing import Any

from felhom_provider.errors import AlreadyExistsError, NotFoundError, NotRunningError, PveError
from felhom_provider.pve.props import parse_pct_conf, split_tags
from felhom_provider.reconcile import locks, vmids
from felhom_provider.reconcile.apply import Applier
from felhom_provider.reconcile.journal import Journal
from felhom_provider.reconcile.ports import Progress, RollApi
from felhom_provider.reconcile.roll_plan import (
    HOLDER_TAG,
    HolderRecord,
    data_mounts,
    holder_owner,
    is_roll_backup,
)
from felhom_provider.reconcile.undo import (
    DeleteVolume,
    DestroyHolder,
    MoveVolume,
    SetProtection,
    StartCT,
    StopCT,
)

#: How long a clean shutdown may take before PVE's task fails (then the CT is stopped hard).
SHUTDOWN_TIMEOUT_S = 60


class RollOps:
    """One roll's PVE calls: a client, an applier, the journal and the step log."""

    def __init__(
        self,
        client: RollApi,
        applier: Applier,
        journal: Journal,
        say: Progress,
        *,
        node: str,
        restore_slots: int = locks.DEFAULT_RESTORES_PER_NODE,
        vmid_attempts: int = vmids.ATTEMPTS,
    ) -> None:
        self.client = client
        self.applier = applier
        self.journal = journal
        self.say = say
        self.node = node
        self.restore_slots = restore_slots
        self.vmid_attempts = vmid_attempts

    # --- reads --------------------------------------------------------------------------

    def config_or_none(self, vmid: int) -> dict[str, Any] | None:
        """The CT's config once no ``lock:`` is held on it, or None when it does not exist."""
        return self.applier.wait_unlocked(vmid)

    def running(self, vmid: int) -> bool:
        """True when the CT runs."""
        return self.client.status(vmid).get("status") == "running"

    def archive_config(self, volid: str) -> dict[str, Any]:
        """An archive's embedded pct.conf (``extractconfig``)."""
        return parse_pct_conf(self.client.extractconfig(volid))

    def find_holder(self, owner: str, guest: int) -> tuple[int, HolderRecord] | None:
        """The holder of an interrupted roll of ``guest``, found by tag and marker.

        A CT under ``lock: create`` that no thread here restores may be a killed run's
        holder restore still running inside PVE: wait for it, then read its marker.
        """
        for ct in self.client.list_lxc():
            vmid = int(ct["vmid"])
            pending = ct.get("lock") == "create" and not locks.is_inflight(self.node, vmid)
            if HOLDER_TAG not in split_tags(ct.get("tags")) and not pending:
                continue
            config = self.config_or_none(vmid)
            record = HolderRecord.parse(owner, str((config or {}).get("description") or ""))
            if record is not None and record.guest == guest:
                return vmid, record
        return None

    def find_backups(self, storage: str, owner: str, guest: int) -> list[str]:
        """Volids of vzdumps of ``guest`` whose notes mark them as ``owner``'s roll backup."""
        items = self.client.storage_content(storage, content="backup", vmid=guest)
        return sorted(str(i["volid"]) for i in items if is_roll_backup(owner, i.get("notes")))

    # --- the holder ---------------------------------------------------------------------

    def create_holder(self, archive: str, overrides: dict[str, Any]) -> int:
        """Allocate a VMID and restore the holder from ``archive``; returns its VMID.

        ``nextid`` and the POST run under the node's allocation lock, the restore in one of
        the node's restore slots, as a guest bring-up does (``provision.restore``).
        """
        with locks.restore_slot(self.node, self.restore_slots):
            attempt = 1
            while True:  # a VMID taken between nextid and the POST: ask again, bounded
                with ExitStack() as inflight:
                    with locks.allocation_lock(self.node):
                        # Another stack's roll or bring-up may race for the same id.
                        vmid = vmids.candidate(int(self.client.next_vmid()), attempt)
                        inflight.enter_context(locks.inflight(self.node, vmid))
                        entry = self.journal.begin(
                            "holder",
                            {"vmid": vmid, "archive": archive},
                            undo=DestroyHolder(vmid=vmid),
                        )
                        self.say(f"restoring holder CT {vmid} from {archive} (stopped, protected)")
                        try:
                            upid = self.applier.dispatch(
                                "vzrestore",
                                vmid,
                                partial(self.client.restore_lxc, vmid, archive, overrides),
                            )
                        except AlreadyExistsError:
                            self.journal.failed(entry, AlreadyExistsError("taken"))
                            if attempt >= self.vmid_attempts:
                                raise
                            attempt += 1
                            continue
                    self.applier.wait(upid, f"restore holder CT {vmid}")
                self.journal.done(entry, {"upid": str(upid)})
                return vmid

    def write_record(self, holder: int, record: HolderRecord) -> None:
        """Write the roll's durable record into the holder's description."""
        entry = self.journal.begin("record", {"vmid": holder, "record": record.description()})
        self.client.put_config(holder, description=record.description())
        self.journal.done(entry)

    def destroy_holder(self, holder: int, owner: str) -> None:
        """Clear its protection and destroy the holder; refuses while it holds data."""
        config = self.config_or_none(holder)
        if config is None:
            return
        left = [m.key for m in data_mounts(config)] + [k for k in config if k.startswith("unused")]
        if left:
            raise PveError(
                f"holder CT {holder} still holds {left}; not destroyed", vmid=holder, step="cleanup"
            )
        self.set_protection(holder, on=False, undo=False)
        self.say(f"destroying holder CT {holder}")
        self.applier.destroy(holder, holder_owner(owner))

    # --- volumes and backups ------------------------------------------------------------

    def move(self, src: int, key: str, dst: int) -> None:
        """Hand ``key`` from CT ``src`` to CT ``dst`` (same key); journaled with its reverse."""
        entry = self.journal.begin(
            "move-volume",
            {"from": src, "to": dst, "volume": key},
            undo=MoveVolume(src=dst, dst=src, volume=key),
        )
        self.say(f"moving {key} from CT {src} to CT {dst} (move_volume, no copy)")
        send = partial(self.client.move_volume_to, src, key, dst, key)
        self.applier.run("move_volume", src, f"move {key} CT {src} -> CT {dst}", send)
        self.journal.done(entry)

    def backup(self, vmid: int, storage: str, notes: str, owner: str) -> str:
        """vzdump the stopped CT (stop mode, zstd, ``remove=0``); returns the archive volid."""
        entry = self.journal.begin("backup-old-rootfs", {"vmid": vmid, "storage": storage})
        self.say(f"vzdump of the stopped CT {vmid} to {storage}: the old root filesystem")
        send = partial(self.client.vzdump, vmid, storage, "stop", "zstd", notes=notes)
        self.applier.run("vzdump", vmid, "vzdump old root filesystem", send)
        found = self.find_backups(storage, owner, vmid)
        if not found:
            raise PveError(f"vzdump of CT {vmid} left no archive", vmid=vmid, step="backup")
        volid = found[-1]
        entry.undo = DeleteVolume(storage=storage, volid=volid)
        self.journal.done(entry, {"volid": volid})
        return volid

    def delete_backup(self, storage: str, volid: str) -> None:
        """Delete a roll backup; a missing one counts as deleted."""
        self.say(f"deleting {volid}")
        try:
            upid = self.client.delete_volume(storage, volid)
        except NotFoundError:
            return
        if upid is not None:
            self.applier.wait(upid, f"delete {volid}")

    # --- the guest ----------------------------------------------------------------------

    def set_protection(self, vmid: int, *, on: bool, undo: bool = True) -> None:
        """``PUT protection``; journaled with the opposite as its undo."""
        entry = self.journal.begin(
            "protection-on" if on else "protection-off",
            {"vmid": vmid},
            undo=SetProtection(vmid=vmid, on=not on) if undo else None,
        )
        self.client.put_config(vmid, protection=int(on))
        self.journal.done(entry)

    def restore(self, vmid: int, archive: str, overrides: dict[str, Any], *, over: bool) -> None:
        """Restore ``archive`` into ``vmid``: over the existing CT (``force=1``) or anew."""
        step = "restore-over" if over else "restore"
        entry = self.journal.begin(step, {"vmid": vmid, "archive": archive})
        self.say(f"restoring CT {vmid} from {archive} ({'force=1, ' if over else ''}same VMID)")
        method = self.client.restore_over if over else self.client.restore_lxc
        send = partial(method, vmid, archive, overrides)
        # A restore slot like any restore on the node; in flight, so that adoption and holder
        # scans of this process do not wait for the ``lock: create`` it holds.
        with locks.restore_slot(self.node, self.restore_slots), locks.inflight(self.node, vmid):
            self.applier.run("vzrestore", vmid, f"restore CT {vmid}", send)
        self.journal.done(entry)

    def start(self, vmid: int) -> None:
        """Start the CT (journaled; its undo stops it)."""
        entry = self.journal.begin("start", {"vmid": vmid}, undo=StopCT(vmid=vmid))
        self.say(f"starting CT {vmid}")
        self.applier.run("vzstart", vmid, f"start CT {vmid}", partial(self.client.start, vmid))
        self.journal.done(entry)

    def stop(self, vmid: int, *, clean: bool) -> None:
        """Shut down cleanly (hard stop when that fails) or stop; a stopped CT is left as is."""
        if not self.running(vmid):
            return
        entry = self.journal.begin("stop", {"vmid": vmid}, undo=StartCT(vmid=vmid))
        self.say(f"{'shutting down' if clean else 'stopping'} CT {vmid}")
        if not (clean and self._shutdown(vmid)):
            # NotRunningError: it stopped meanwhile (a shutdown that ended late, someone
            # else's stop); the goal is reached.
            with suppress(NotRunningError):
                send = partial(self.client.stop, vmid)
                self.applier.run("vzstop", vmid, f"stop CT {vmid}", send)
        self.journal.done(entry)

    def _shutdown(self, vmid: int) -> bool:
        """A clean shutdown (``timeout`` s for the CT's init); False when it failed."""
        send = partial(self.client.shutdown, vmid, timeout=SHUTDOWN_TIMEOUT_S)
        try:
            self.applier.run("vzshutdown", vmid, f"shutdown CT {vmid}", send)
        except PveError:
            return False
        return True
