"""Guard rails: the suite touches only CTs and archives that carry its marker in its VMID range.

Each run deploys one stack named ``felhom-acceptance-<8 hex>``. The product writes its
ownership marker ``felhom-owner=<stackId>:felhom/<stack>/<name>`` into every CT's description
(the golden build CT included) and ``owner=<stackId>:felhom/<stack>/golden`` into the golden
archive's notes (design §2.10, §2.13). That is the suite's run marker: :func:`is_suite_owner`
recognises any run's marker (for the start-up sweep of interrupted runs), :meth:`Guard.owns_ct`
this run's or any run's within the VMID range.

Every destructive call the suite makes itself (stop, destroy, delete an archive, a config
change behind Pulumi's back) goes through :class:`Guard`, which reads the object again right
before the call and refuses with :class:`ForeignObjectError` when it is outside the range or
does not carry the marker. Before every mutating ``pulumi`` command the suite checks the
stack's guests the same way (:meth:`Guard.check_stack_guests`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from felhom_provider.errors import NotFoundError, PveError
from felhom_provider.pve import PveClient

PROJECT = "felhom"
STACK_PREFIX = "felhom-acceptance-"
_OWNER = rf"{PROJECT}/{STACK_PREFIX}[0-9a-f]{{8}}/[A-Za-z0-9_.-]+"
# Markers lead with the stack's id (``<stackId>:``); the run is named by the path after it.
_STACK_ID = r"(?:[a-z0-9][a-z0-9-]{7,63}:)?"
_CT_MARK = re.compile(rf"^felhom-owner={_STACK_ID}({_OWNER})$", re.M)
_ARCHIVE_MARK = re.compile(rf"(?:^|\s)owner={_STACK_ID}({_OWNER})(?:\s|$)")


class ForeignObjectError(AssertionError):
    """The suite was about to touch something that is not its own; nothing was touched."""


def is_suite_owner(owner: str, stack: str | None = None) -> bool:
    """Is ``owner`` (``felhom/<stack>/<name>``) one of the suite's, of ``stack`` if given?"""
    if not re.fullmatch(_OWNER, owner):
        return False
    return stack is None or owner.split("/")[1] == stack


def ct_owner(config: Mapping[str, Any]) -> str | None:
    """The suite owner in a CT's description, or None."""
    m = _CT_MARK.search(str(config.get("description") or ""))
    return m.group(1) if m else None


def archive_owner(item: Mapping[str, Any]) -> str | None:
    """The suite owner in a backup volume's notes (first line), or None."""
    m = _ARCHIVE_MARK.search(str(item.get("notes") or ""))
    return m.group(1) if m else None


@dataclass
class Guard:
    """The only door through which the suite itself changes or deletes anything on the node.

    ``stack`` narrows ownership to one run; ``None`` accepts any run of the suite (the
    start-up sweep). ``say`` reports every action.
    """

    client: PveClient
    vmids: range
    archive_storage: str
    stack: str | None = None
    task_timeout_s: float = 900.0
    say: Callable[[str], None] = print

    # --- checks ---------------------------------------------------------------------------

    def owns_ct(self, vmid: int) -> bool:
        """Read the CT now: in the range and carrying the marker? (False when absent.)"""
        if vmid not in self.vmids:
            return False
        try:
            config = self.client.get_config(vmid)
        except NotFoundError:
            return False
        owner = ct_owner(config)
        return owner is not None and is_suite_owner(owner, self.stack)

    def _require_ct(self, vmid: int, action: str) -> None:
        if not self.owns_ct(vmid):
            raise ForeignObjectError(
                f"refusing to {action} CT {vmid}: outside {self.vmids.start}-"
                f"{self.vmids.stop - 1} or without the suite's marker"
            )

    def check_stack_guests(self, guests: Mapping[str, Mapping[str, Any]]) -> None:
        """Before a mutating pulumi command: every guest the stack holds is the suite's."""
        for name, guest in guests.items():
            vmid = int(guest["vmid"])
            if vmid not in self.vmids:
                raise ForeignObjectError(f"guest {name} has VMID {vmid} outside the range")
            self._require_ct(vmid, f"let pulumi change guest {name} on")

    # --- destructive calls ----------------------------------------------------------------

    def put_config(self, vmid: int, **values: Any) -> None:
        """A config change behind Pulumi's back (drift scenarios)."""
        self._require_ct(vmid, "change")
        self.say(f"changing CT {vmid} behind pulumi's back: {sorted(values)}")
        self.client.put_config(vmid, **values)

    def stop_ct(self, vmid: int) -> None:
        """Hard stop, if running."""
        self._require_ct(vmid, "stop")
        if self.client.status(vmid).get("status") == "running":
            self.client.wait_task(self.client.stop(vmid), self.task_timeout_s)

    def start_ct(self, vmid: int) -> None:
        """Start, if stopped (undoing a stop the suite made)."""
        self._require_ct(vmid, "start")
        if self.client.status(vmid).get("status") != "running":
            self.client.wait_task(self.client.start(vmid), self.task_timeout_s)

    def destroy_ct(self, vmid: int) -> None:
        """Stop and destroy (purge) a CT of the suite; waits for a running task's lock first."""
        self._require_ct(vmid, "destroy")
        self._wait_unlocked(vmid)
        self.stop_ct(vmid)
        self._require_ct(vmid, "destroy")
        self.say(f"destroying CT {vmid}")
        self.client.wait_task(self.client.destroy(vmid, purge=True), self.task_timeout_s)

    def delete_archive(self, volid: str) -> None:
        """Delete a backup volume of the suite (marker in its notes, VMID in the range)."""
        item = self._archive(volid)
        owner = archive_owner(item) if item else None
        if (
            item is None
            or owner is None
            or not is_suite_owner(owner, self.stack)
            or int(item.get("vmid") or 0) not in self.vmids
        ):
            raise ForeignObjectError(f"refusing to delete {volid}: not the suite's archive")
        if item.get("protected"):
            # Golden archives are protected; PVE's imgdel refuses them until cleared.
            self.say(f"clearing protection of {volid}")
            self.client.set_volume_protected(self.archive_storage, volid, False)
        self.say(f"deleting archive {volid}")
        upid = self.client.delete_volume(self.archive_storage, volid)
        if upid is not None:
            self.client.wait_task(upid, self.task_timeout_s)

    # --- inventory and the sweep ----------------------------------------------------------

    def suite_cts(self) -> list[int]:
        """VMIDs in the range whose CT carries the marker (of ``stack`` when set).

        A CT under ``lock: create`` has no description yet (PVE writes the config at the end
        of the restore), so a locked CT in the range is waited for before it is judged.
        """
        listed = sorted(int(ct["vmid"]) for ct in self.client.list_lxc())
        found = []
        for vmid in (v for v in listed if v in self.vmids):
            self._wait_unlocked(vmid)
            if self.owns_ct(vmid):
                found.append(vmid)
        return found

    def suite_archives(self) -> list[str]:
        """Backup volumes on the archive storage carrying the marker, VMID in the range."""
        found = []
        for item in self.client.storage_content(self.archive_storage, "backup"):
            owner = archive_owner(item)
            in_range = int(item.get("vmid") or 0) in self.vmids
            if owner and in_range and is_suite_owner(owner, self.stack):
                found.append(str(item["volid"]))
        return sorted(found)

    def sweep(self) -> list[str]:
        """Remove every CT and archive of the suite (this run's, or any run's when ``stack``
        is None); returns what was removed. Foreign objects are never read beyond their
        config and never changed."""
        removed: list[str] = []
        for vmid in self.suite_cts():
            self.destroy_ct(vmid)
            removed.append(f"CT {vmid}")
        for volid in self.suite_archives():
            self.delete_archive(volid)
            removed.append(volid)
        return removed

    def _archive(self, volid: str) -> Mapping[str, Any] | None:
        items = self.client.storage_content(self.archive_storage, "backup")
        return next((i for i in items if i.get("volid") == volid), None)

    def _wait_unlocked(self, vmid: int) -> None:
        # An interrupted run leaves PVE's tasks running (restore, vzdump): their CT stays
        # locked until the task ends; destroying earlier fails with "CT is locked".
        # Only reads: a foreign CT is waited for, never touched.
        deadline = time.monotonic() + self.task_timeout_s
        while time.monotonic() < deadline:
            try:
                if not self.client.status(vmid).get("lock"):
                    return
            except NotFoundError:
                return
            time.sleep(0.5)


def free_vmids(client: PveClient, vmids: Iterable[int], count: int) -> list[int]:
    """``count`` VMIDs of the range that no guest uses (``nextid`` with a hint also sees
    guests this token may not audit)."""
    chosen: list[int] = []
    for vmid in vmids:
        try:
            if client.next_vmid(vmid) == vmid:
                chosen.append(vmid)
        except PveError:
            continue  # in use
        if len(chosen) == count:
            return chosen
    raise ForeignObjectError(f"only {len(chosen)} free VMIDs in the range, {count} needed")
