"""Golden image build (``GoldenImage``): the seed recipe step by step, archive kept, build CT gone.

build = clean a killed build's leftovers -> root ``pct create`` with ``nesting=1,keyctl=1``
over the node shell -> start -> lease -> Docker from the official repository ->
``hello-world`` and the storage driver (F5, F6) -> bake the key-generation unit -> identity
clean -> hard stop -> ``vzdump`` (stop mode, zstd, ``protected=1``) -> ``extractconfig`` check
(design §2.7) -> destroy the build CT. Any failure destroys the build CT (and an unfit archive,
its protection cleared first) via the journal. ``delete`` clears the protection, then deletes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from felhom_provider.errors import (
    AlreadyExistsError,
    GuestCommandError,
    NotFoundError,
    VerificationError,
)
from felhom_provider.pve.props import parse_pct_conf
from felhom_provider.pve.retry import classify_command
from felhom_provider.reconcile import golden_steps as recipe
from felhom_provider.reconcile.apply import Applier
from felhom_provider.reconcile.engine_base import EngineBase
from felhom_provider.reconcile.hostkeys import check_exec
from felhom_provider.reconcile.journal import Journal, JournalStatus
from felhom_provider.reconcile.model import GoldenSpec, GoldenState, owner_of
from felhom_provider.reconcile.plan import ArchiveFacts, check_archive_config
from felhom_provider.reconcile.ports import GoldenApi, Progress, ShellLike
from felhom_provider.reconcile.undo import DeleteVolume, DestroyCT


@dataclass
class _Build:
    """One build in progress: its spec, journal, applier, progress and current step."""

    spec: GoldenSpec
    journal: Journal
    applier: Applier
    say: Progress
    step: str = "begin"
    vmid: int = 0


class GoldenEngine(EngineBase):
    """Builds, reads and deletes the golden archive. Needs the root node shell."""

    client: GoldenApi

    def __init__(
        self,
        client: GoldenApi,
        shell: ShellLike,
        progress: Progress | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        task_timeout_s: float = 1800.0,
        lease_timeout_s: float = 120.0,
        exec_timeout_s: float = 900.0,
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
        self.client = client
        self.shell = shell
        self.exec_timeout_s = exec_timeout_s

    def build(self, spec: GoldenSpec) -> GoldenState:
        """Create, install Docker, clean, vzdump, verify; the build CT is always destroyed.

        On failure the journal is undone (build CT stopped and destroyed, an unfit archive
        deleted) and the error re-raised with ``.journal``; ``RollbackError`` names leftovers.
        """
        say = self._say_for(spec.name)
        journal = Journal(f"build golden {spec.name} ({spec.owner})")
        b = _Build(spec, journal, self._applier(say), say)
        return self._compensated(
            lambda: self._build(b),
            b.journal,
            b.applier,
            owner=spec.owner,
            name=spec.name,
            step=lambda: b.step,
            say=say,
        )

    # -- the recipe -----------------------------------------------------------------------

    def _build(self, b: _Build) -> GoldenState:
        spec, journal, applier, say = b.spec, b.journal, b.applier, b.say
        b.step = "clean-leftovers"
        self._clean_leftovers(spec, applier, say)
        b.step = "create"
        b.vmid = vmid = self._create(spec, journal, say)
        b.step = "start"
        say(f"starting build CT {vmid}")
        applier.run("vzstart", vmid, "start", partial(self.client.start, vmid))
        b.step = "lease"
        ip = self._lease(vmid, None)
        if not ip:
            raise VerificationError(f"build CT {vmid} got no DHCP lease", vmid=vmid, step="lease")
        say(f"build CT {vmid} has lease {ip}; installing Docker from the official repository")
        for name, argv, stdin in recipe.docker_install():
            b.step = name
            out = self._exec(b, name, argv, stdin)
            if name == recipe.KEY_CHECK_STEP:
                # Before the key becomes the keyring apt trusts (next step).
                recipe.check_docker_key(out)
                say(f"Docker's apt key is {recipe.DOCKER_KEY_FINGERPRINT}, as published")
        b.step = "hello-world"
        hello = self._exec(b, "hello-world", ("docker", "run", "--rm", "hello-world"))
        if "Hello from Docker!" not in hello:  # F5: keyctl is functional, not just set
            raise VerificationError("docker run --rm hello-world did not greet", vmid=vmid)
        b.step = "docker-driver"
        driver = self._exec(b, "docker-driver", ("docker", "info", "--format", "{{.Driver}}"))
        driver = driver.strip()
        say(f"Docker works (hello-world OK); storage driver {driver}")  # F6: overlayfs
        b.step = "openssh-version"
        openssh = self._openssh_version(b)
        for name, argv, stdin in [*recipe.bake_keygen_unit(), *recipe.identity_clean()]:
            b.step = name
            self._exec(b, name, argv, stdin)
        b.step = "stop"
        # A hard stop (lxc-stop --kill, as seed step 4): a clean shutdown would write a new
        # random-seed and flush logs into the image just cleaned.
        say(f"stopping build CT {vmid}")
        applier.run("vzstop", vmid, "stop", partial(self.client.stop, vmid))
        b.step = "vzdump"
        archive, item = self._vzdump(b, driver, openssh)
        b.step = "verify-archive"
        facts = self._verify_archive(spec, archive)
        journal.record("verify-archive", {"archive": archive}, result={"mac": facts.mac})
        b.step = "destroy-build-ct"
        say(f"destroying build CT {vmid}; keeping {archive}")
        applier.destroy(vmid, spec.owner)
        for entry in journal.entries:
            if isinstance(entry.undo, DestroyCT):
                entry.status = JournalStatus.UNDONE
        say(f"golden archive {archive} ready (MAC {facts.mac}, hostname {facts.hostname})")
        return _state(archive, item, facts, docker_driver=driver, openssh_version=openssh)

    def _clean_leftovers(self, spec: GoldenSpec, applier: Applier, say: Progress) -> None:
        """A killed build leaves a build CT carrying our marker: destroy it (never reused)."""
        for ct in self.client.list_lxc():
            vmid = int(ct["vmid"])
            try:
                config = self.client.get_config(vmid)
            except NotFoundError:
                continue
            if owner_of(config) == spec.owner:
                say(f"destroying build CT {vmid} left by an earlier, interrupted build")
                applier.destroy(vmid, spec.owner)

    def _free_build_vmid(self, spec: GoldenSpec, taken: set[int]) -> int:
        """The lowest VMID of ``reservedVmids`` no CT uses (customer guests may not pin one
        there, so an archive's ``vzdump-lxc-<vmid>`` never names a customer guest)."""
        used = {int(ct["vmid"]) for ct in self.client.list_lxc()} | taken
        first, last = int(spec.reserved_vmids["first"]), int(spec.reserved_vmids["last"])
        for vmid in range(first, last + 1):
            if vmid not in used:
                return vmid
        raise VerificationError(
            f"no free VMID in reservedVmids {first}..{last} for the build CT; widen the range",
            step="create",
        )

    def _create(self, spec: GoldenSpec, journal: Journal, say: Progress) -> int:
        """Root ``pct create`` over the node shell; re-roll the VMID when it is taken."""
        tried: set[int] = set()
        for attempt in range(1, self.vmid_attempts + 1):
            vmid = spec.build_vmid or self._free_build_vmid(spec, tried)
            tried.add(vmid)
            argv = recipe.create_argv(spec, vmid)
            entry = journal.begin(
                "create",
                {"vmid": vmid, "argv": argv},
                undo=DestroyCT(vmid=vmid, node=spec.node, owner=spec.owner),
            )
            say(f"creating build CT {vmid} from {spec.template} (root: keyctl=1 needs root@pam)")
            result = self.shell.run(argv, timeout=self.exec_timeout_s)
            try:
                check_exec(result, tuple(argv[:3]), vmid)
            except GuestCommandError as exc:
                taken = isinstance(classify_command(exc), AlreadyExistsError)
                journal.failed(entry, exc)
                if taken and spec.build_vmid is None and attempt < self.vmid_attempts:
                    say(f"VMID {vmid} was taken meanwhile; re-rolling")
                    continue
                raise
            journal.done(entry, {"upid": "pct create", "exit_code": 0})
            return vmid
        raise AssertionError("unreachable")  # pragma: no cover

    def _exec(self, b: _Build, name: str, argv: Sequence[str], stdin: str | None = None) -> str:
        """``pct exec <vmid> -- argv``; journaled; non-zero exit raises GuestCommandError."""
        b.say(f"{name}: {' '.join(argv)}")
        entry = b.journal.begin(name, {"vmid": b.vmid, "argv": list(argv)})
        result = self.shell.exec(b.vmid, list(argv), stdin=stdin, timeout=self.exec_timeout_s)
        try:
            check_exec(result, tuple(argv), b.vmid)
        except GuestCommandError as exc:
            exc.context.setdefault("step", name)
            raise
        b.journal.done(entry, 0)
        return str(getattr(result, "stdout", ""))

    def _openssh_version(self, b: _Build) -> str:
        """openssh-server's version: dpkg-query, else the dpkg log (read before cleaning)."""
        argv = ["dpkg-query", "-W", "-f=${Version}", "openssh-server"]
        result: Any = self.shell.exec(b.vmid, argv, timeout=60)
        if int(getattr(result, "exit_code", 1) or 0) == 0 and str(result.stdout).strip():
            version = str(result.stdout).strip()
        else:
            log = self._exec(b, "dpkg-log", ("cat", "/var/log/dpkg.log"))
            version = recipe.openssh_from_dpkg_log(log)
        b.journal.record("openssh-version", {"vmid": b.vmid}, result=version)
        return version

    def _vzdump(self, b: _Build, driver: str, openssh: str) -> tuple[str, dict[str, Any]]:
        """``vzdump --mode stop --compress zstd`` to the archive storage; find the archive."""
        spec, vmid = b.spec, b.vmid
        b.say(f"vzdump CT {vmid} to {spec.archive_storage} (stop mode, zstd)")
        # Stop mode, zstd (seed recipe step 4), ``remove=0`` (the client always sends it): PVE's
        # default ``remove=1`` prunes older backups of this VMID by the storage's retention
        # (design §4.11), and guests may still name an older archive.
        # The notes carry what only the build could observe, so read() can report it.
        # ``protected=1``: the build VMID's backups may be pruned by a backup job or the
        # storage's retention; PVE's prune skips protected archives (pve-storage Plugin.pm
        # ``prune_backups``), and a plain delete of one fails, so our delete clears it first.
        notes = recipe.notes_line(spec.owner, driver, openssh)
        params = {"storage": spec.archive_storage, "mode": "stop", "compress": "zstd"}
        entry = b.journal.begin(
            "vzdump", {"vmid": vmid, **params, "remove": 0, "protected": 1, "notes": notes}
        )
        send = partial(
            self.client.vzdump,
            vmid,
            spec.archive_storage,
            "stop",
            "zstd",
            notes=notes,
            protected=True,
        )
        upid = b.applier.dispatch("vzdump", vmid, send)
        result = b.applier.wait(upid, "vzdump")
        # The archive this task wrote, by name from its own log: never "the newest backup of
        # the VMID", which could be someone else's (and would get our delete undo).
        archive = recipe.archive_from_log(self.client.task_log(upid, limit=0), spec.archive_storage)
        items = self.client.storage_content(spec.archive_storage, content="backup", vmid=vmid)
        item = next((i for i in items if str(i.get("volid")) == archive), None)
        if archive is None or item is None:
            raise VerificationError(
                f"vzdump task {upid} of CT {vmid} names no archive on {spec.archive_storage}",
                vmid=vmid,
            )
        entry.undo = DeleteVolume(storage=spec.archive_storage, volid=archive, protected=True)
        b.journal.done(entry, {"archive": archive, "exitstatus": getattr(result, "exitstatus", "")})
        if not item.get("protected"):
            # vzdump fails its task when it cannot mark the archive, so this only happens
            # with a PVE that ignored the option; the attribute call is the documented way.
            b.say(f"archive {archive} is not protected; protecting it")
            self.client.set_volume_protected(spec.archive_storage, archive, True)
            item = {**item, "protected": 1}
        return archive, item

    def _verify_archive(self, spec: GoldenSpec, archive: str) -> ArchiveFacts:
        """design §2.7: the embedded config has the features, unprivileged, no template."""
        facts = check_archive_config(parse_pct_conf(str(self.client.extractconfig(archive))))
        problems = list(facts.problems)
        if facts.hostname != spec.hostname:
            problems.append(f"hostname {facts.hostname!r} != {spec.hostname!r}")
        if not facts.mac:
            problems.append("net0 carries no MAC to record")
        if problems:
            raise VerificationError(f"archive {archive} is unfit: " + "; ".join(problems))
        return facts

    # -- read / delete ----------------------------------------------------------------------

    def read(self, archive: str) -> GoldenState | None:
        """Re-read the archive's facts; None when the archive is gone."""
        storage = archive.partition(":")[0]
        try:
            items = self.client.storage_content(storage, content="backup")
        except NotFoundError:
            return None
        item = next((i for i in items if str(i.get("volid")) == archive), None)
        if item is None:
            return None
        facts = check_archive_config(parse_pct_conf(str(self.client.extractconfig(archive))))
        notes = recipe.parse_notes(item.get("notes"))
        return _state(
            archive,
            item,
            facts,
            docker_driver=notes.get("docker", ""),
            openssh_version=notes.get("openssh", ""),
        )

    def delete(self, archive: str) -> None:
        """Clear the archive's protection, then delete it; a missing archive counts as deleted.

        The build protects the archive; PVE's ``imgdel`` task refuses a protected backup
        (``cannot remove protected volume``, pve-storage ``Plugin.pm`` ``free_image``).
        """
        storage = archive.partition(":")[0]
        self._progress(f"clearing protection of {archive}, then deleting it")
        try:
            self.client.set_volume_protected(storage, archive, False)
            upid = self.client.delete_volume(storage, archive)
            if upid is not None:
                self._applier(self._progress).wait(upid, f"delete {archive}")
        except NotFoundError:
            self._progress(f"archive {archive} already gone")


def _state(
    archive: str,
    item: dict[str, Any],
    facts: ArchiveFacts,
    *,
    docker_driver: str,
    openssh_version: str,
) -> GoldenState:
    """The outputs from the archive's storage item and its checked config."""
    return GoldenState(
        archive=archive,
        size_bytes=int(item.get("size") or 0),
        golden_mac=facts.mac or "",
        golden_hostname=facts.hostname or "",
        features=facts.features,
        unprivileged=facts.unprivileged,
        docker_driver=docker_driver,
        openssh_version=openssh_version,
        created_at=_iso(item.get("ctime")),
    )


def _iso(ctime: Any) -> str:
    """Storage ``ctime`` (epoch seconds) as ISO 8601 UTC, or empty."""
    if not ctime:
        return ""
    return datetime.fromtimestamp(int(ctime), tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
