"""Guest bring-up (``FelhomGuest``): create, read, update and delete one customer guest.

create = verify archive -> adopt a leftover of ours, or allocate a VMID and restore in ONE
call -> read back and verify -> start -> DHCP lease (or the static address) -> SSH host keys
-> authorized keys -> protection. Every mutating step is journaled; any failure undoes the
journal in reverse (stop, destroy with purge, wait) and raises with the journal attached
(design §2.3, §2.9, §2.10). With ``import`` the create adopts an existing CT instead.
"""

from __future__ import annotations

import re

from felhom_provider.errors import (
    NotFoundError,
    OwnershipError,
    VerificationError,
)
from felhom_provider.pve.permissions import guest_bringup_privileges
from felhom_provider.pve.props import as_bool, parse_pct_conf, split_tags
from felhom_provider.reconcile import locks
from felhom_provider.reconcile.access import sync_keys
from felhom_provider.reconcile.apply import Applier
from felhom_provider.reconcile.guest_update import GuestUpdates
from felhom_provider.reconcile.hostkeys import VerifiedKeys
from felhom_provider.reconcile.model import (
    FELHOM_TAG,
    GuestSpec,
    GuestState,
    marker_for,
    owner_of,
    owner_tag,
)
from felhom_provider.reconcile.observe import mac_of, state_from
from felhom_provider.reconcile.plan import check_archive_config
from felhom_provider.reconcile.ports import Progress
from felhom_provider.reconcile.provision import Run, adopt, config_or_none, restore
from felhom_provider.reconcile.readback import verify_readback

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
        vlan=spec.network.get("vlan"),
        pool=spec.pool,
    )


class GuestEngine(GuestUpdates):
    """The guest engine: create (restore or import), read, update (``GuestUpdates``) and
    delete; construction and the shared steps are in ``GuestCore``."""

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
            # No guest or step here: ``compensate`` adds both (from ``run.step``) to every
            # error of a create.
            raise VerificationError(
                f"archive {spec.archive} is unfit: " + "; ".join(facts.problems)
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
                f"CT {vmid} read-back differs from the spec: " + "; ".join(problems), vmid=vmid
            )
        mac = mac_of(config)
        say(f"CT {vmid} verified: fresh MAC {mac} (golden {facts.mac}), hostname {spec.hostname}")
        ip, keys = self._bring_online(run, applier, vmid, mac=mac, old_keys=None)
        return self._finish(run, vmid, ip, keys, fresh=True)

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
            raise VerificationError(f"CT {vmid} to import does not exist", vmid=vmid)
        found = owner_of(config)
        if found not in (None, spec.owner):
            raise OwnershipError(
                f"CT {vmid} carries owner {found!r}, not {spec.owner!r}: another stack or "
                "resource manages it; not importing",
                vmid=vmid,
            )
        if found is None:
            say(f"importing CT {vmid}: writing the ownership marker and tags (no restart)")
            rest = str(config.get("description") or "")
            tags = sorted({*split_tags(config.get("tags")), FELHOM_TAG, owner_tag(spec.owner)})
            self.client.put_config(
                vmid,
                # The marker only: the CT was not restored from our archive, so no archive line.
                description=f"{marker_for(spec.owner)}\n{rest}",
                tags=";".join(tags),
                digest=config.get("digest"),
            )
            run.journal.record("import", {"vmid": vmid})
        running = self.client.status(vmid).get("status") == "running"
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

    # -- read / delete ----------------------------------------------------------------------

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
        if owner_of(config) == owner and as_bool(config.get("protection")):
            say(f"clearing PVE protection on CT {vmid} for a deliberate destroy")
            self.client.put_config(vmid, protection=0, digest=config.get("digest"))
