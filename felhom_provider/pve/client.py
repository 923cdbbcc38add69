"""``PveClient``: a thin typed wrapper over proxmoxer, one method per PVE endpoint we use.

Requests that return a UPID run under the *dispatch* policy, everything else under *call*
(``retry``); the plumbing is in ``transport``. Tasks are waited for under the *poll* policy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from felhom_provider.errors import ConfigError, DispatchLostError, PermanentPveError
from felhom_provider.pve.permissions import check_preflight
from felhom_provider.pve.props import SizeSpec, is_new_volume
from felhom_provider.pve.tasks import TaskResult, Upid, wait_for_task
from felhom_provider.pve.transport import PveTransport

_LXC = "/nodes/{node}/lxc/{vmid}"
_TASK = "/nodes/{node}/tasks/{upid}"
_MOUNT_KEYS = ("rootfs", "mp")


class PveClient(PveTransport):
    """Typed access to one PVE node's API with an API token, one method per endpoint.

    Construct with a ``PveEndpoint``; ``sleep``, ``clock`` (monotonic), ``wallclock`` (epoch),
    ``retry``/``poll`` settings and a transport ``adapter`` are injectable (see
    ``PveTransport``). ``stats`` counts every request. Safe to share between threads.
    """

    # --- cluster and node -------------------------------------------------------------------

    def version(self) -> dict[str, Any]:
        """``GET /version``: ``{version, release, repoid}``."""
        return dict(self._call("GET", "/version"))

    def next_vmid(self, hint: int | None = None) -> int:
        """``GET /cluster/nextid``: a free VMID (advisory, not a reservation).

        With ``hint``, returns it if free, else raises ``AlreadyExistsError``. PVE has sent the
        id as a JSON string for years (Perl caches the string form), so it is ``int()``-ed.
        """
        return int(self._call("GET", "/cluster/nextid", params={"vmid": hint}))

    def permissions(self, path: str | None = None) -> dict[str, dict[str, Any]]:
        """``GET /access/permissions``: ``{path: {privilege: propagate}}`` for this token."""
        return dict(self._call("GET", "/access/permissions", params={"path": path}) or {})

    def preflight(self, required: Mapping[str, Iterable[str]]) -> None:
        """Raise ``PermissionDeniedError`` naming every missing privilege (one request)."""
        check_preflight(self.permissions(), required, token_id=self.endpoint.token_id)

    # --- containers ---------------------------------------------------------------------------

    def list_lxc(self) -> list[dict[str, Any]]:
        """``GET /nodes/{node}/lxc``: the CTs this token may audit."""
        return list(self._call("GET", "/nodes/{node}/lxc") or [])

    def create_lxc(self, vmid: int, params: Mapping[str, Any]) -> Upid:
        """``POST /nodes/{node}/lxc`` (``vzcreate`` task) from a template volume."""
        raw = self._dispatch(
            "POST",
            "/nodes/{node}/lxc",
            None,
            {**params, "vmid": vmid},
            task_type="vzcreate",
            vmid=vmid,
        )
        return self._upid(raw, "create")

    def restore_lxc(self, vmid: int, archive: str, overrides: Mapping[str, Any]) -> Upid:
        """``POST /nodes/{node}/lxc`` with ``restore=1`` (``vzrestore`` task).

        Refuses ``start`` (the start task's UPID would be lost) and ``unique`` together with a
        ``netN`` (PVE would silently replace the passed ``netN``; ``Create.pm``
        ``sanitize_and_merge_config``) — design §2.3.
        """
        if "start" in overrides:
            raise ConfigError("start", "never start from restore: its task id is lost")
        if overrides.get("unique") and any(k.startswith("net") for k in overrides):
            raise ConfigError("unique", "unique=1 discards a passed netN; pass net0 alone")
        params = {**overrides, "vmid": vmid, "ostemplate": archive, "restore": 1}
        raw = self._dispatch(
            "POST", "/nodes/{node}/lxc", None, params, task_type="vzrestore", vmid=vmid
        )
        return self._upid(raw, "restore")

    def get_config(self, vmid: int, *, current: bool = False) -> dict[str, Any]:
        """``GET …/config`` (with ``digest``); ``current`` drops pending values."""
        params = {"current": 1} if current else None
        return dict(self._call("GET", _LXC + "/config", {"vmid": vmid}, params))

    def put_config(
        self,
        vmid: int,
        params: Mapping[str, Any] | None = None,
        delete: Iterable[str] | str = (),
        digest: str | None = None,
        **options: Any,
    ) -> None:
        """``PUT …/config`` (synchronous, call policy); options as a mapping or keywords.

        A lost answer is re-sent only when re-applying is harmless: a ``rootfs``/``mpN`` that
        allocates a new volume (``local-lvm:10``) would allocate a second one.
        """
        values = {**(params or {}), **options}
        to_delete = delete if isinstance(delete, str) else ",".join(delete)
        if not values and not to_delete:
            raise ValueError("put_config needs at least one option or delete")
        allocates = any(
            k.startswith(_MOUNT_KEYS) and isinstance(v, str) and is_new_volume(v)
            for k, v in values.items()
        )
        body = {**values, "delete": to_delete or None, "digest": digest}
        self._call("PUT", _LXC + "/config", {"vmid": vmid}, body, idempotent=not allocates)

    def in_pool(self, pool: str, vmid: int) -> bool:
        """``GET /pools?poolid=<pool>``: whether CT ``vmid`` is a member of ``pool``."""
        data = self._call("GET", "/pools", None, {"poolid": pool})
        entries = data if isinstance(data, list) else [data]
        return any(
            int(m.get("vmid", -1)) == vmid
            for entry in entries
            for m in (entry or {}).get("members") or []
        )

    def set_pool(self, pool: str, vmid: int) -> None:
        """``PUT /pools`` with ``allow-move``: move CT ``vmid`` into ``pool`` (PVE 8.1+ API;
        ``Pool.Allocate`` on the pool, and ``VM.Allocate`` on the guest)."""
        self._call("PUT", "/pools", None, {"poolid": pool, "vms": str(vmid), "allow-move": 1})

    def resize(self, vmid: int, disk: str, size: str | SizeSpec) -> Upid:
        """``PUT …/resize`` (``resize`` task); ``size`` like ``16G`` or ``+2G``."""
        return self._task("PUT", _LXC + "/resize", vmid, "resize", disk=disk, size=str(size))

    def start(self, vmid: int) -> Upid:
        """``POST …/status/start`` (``vzstart`` task)."""
        return self._task("POST", _LXC + "/status/start", vmid, "vzstart")

    def stop(self, vmid: int) -> Upid:
        """``POST …/status/stop`` (``vzstop`` task): hard stop."""
        return self._task("POST", _LXC + "/status/stop", vmid, "vzstop")

    def shutdown(self, vmid: int, timeout: int = 60, *, force_stop: bool = False) -> Upid:
        """``POST …/status/shutdown`` (``vzshutdown`` task)."""
        return self._task(
            "POST",
            _LXC + "/status/shutdown",
            vmid,
            "vzshutdown",
            timeout=timeout,
            forceStop=force_stop or None,
        )

    def status(self, vmid: int) -> dict[str, Any]:
        """``GET …/status/current``: ``status``, ``lock``, ``maxdisk``, …"""
        return dict(self._call("GET", _LXC + "/status/current", {"vmid": vmid}))

    def destroy(
        self,
        vmid: int,
        *,
        purge: bool = True,
        destroy_unreferenced_disks: bool = True,
        force: bool = False,
    ) -> Upid:
        """``DELETE /nodes/{node}/lxc/{vmid}`` (``vzdestroy`` task)."""
        return self._task(
            "DELETE",
            _LXC,
            vmid,
            "vzdestroy",
            purge=purge,
            **{"destroy-unreferenced-disks": destroy_unreferenced_disks},
            force=force or None,
        )

    def interfaces(self, vmid: int) -> list[dict[str, Any]] | None:
        """``GET …/interfaces``: addresses per interface; ``None`` while the CT is stopped."""
        data = self._call("GET", _LXC + "/interfaces", {"vmid": vmid})
        return None if data is None else list(data)

    # --- backup and storage -----------------------------------------------------------------

    def vzdump(
        self,
        vmid: int,
        storage: str,
        mode: str = "stop",
        compress: str = "zstd",
        *,
        notes: str | None = None,
        protected: bool = False,
    ) -> Upid:
        """``POST /nodes/{node}/vzdump`` for one CT (``vzdump`` task).

        Always ``remove=0``: PVE's default ``remove=1`` prunes older backups of this VMID by
        the storage's retention, which could delete an older archive guests still restore
        from. ``notes`` becomes the archive's notes (``notes-template``; PVE wants newline
        and backslash escaped, which is done here). ``protected`` marks the archive so that
        neither pruning nor a plain delete removes it (``VZDump.pm`` sets it before it prunes).
        """
        params: dict[str, Any] = {
            "vmid": str(vmid),
            "storage": storage,
            "mode": mode,
            "compress": compress,
            "remove": 0,
        }
        if notes is not None:
            params["notes-template"] = notes.replace("\\", "\\\\").replace("\n", "\\n")
        if protected:
            params["protected"] = 1
        raw = self._dispatch(
            "POST", "/nodes/{node}/vzdump", None, params, task_type="vzdump", vmid=vmid
        )
        if raw == "OK":  # PVE's answer when the guest lives on another node
            raise PermanentPveError(f"vzdump of CT {vmid}: the CT is not on node {self.node}")
        return self._upid(raw, "vzdump")

    def extractconfig(self, volid: str) -> str:
        """``GET /nodes/{node}/vzdump/extractconfig``: the archive's pct.conf text."""
        return str(self._call("GET", "/nodes/{node}/vzdump/extractconfig", None, {"volume": volid}))

    def storage_content(
        self, storage: str, content: str | None = None, vmid: int | None = None
    ) -> list[dict[str, Any]]:
        """``GET /nodes/{node}/storage/{storage}/content`` (items hidden without access)."""
        data = self._call(
            "GET",
            "/nodes/{node}/storage/{storage}/content",
            {"storage": storage},
            {"content": content, "vmid": vmid},
        )
        return list(data or [])

    def set_volume_protected(self, storage: str, volid: str, protected: bool) -> None:
        """``PUT …/storage/{storage}/content/{volume}`` with ``protected`` (backups only).

        Needs read access to the volume (``check_volume_access``: ``Datastore.Allocate``, or
        ``Datastore.AllocateSpace`` plus ``VM.Backup`` on the archive's VMID). A protected
        archive cannot be deleted: the ``imgdel`` task fails with ``cannot remove protected
        volume`` (pve-storage ``Plugin.pm`` ``free_image``), so clear it first.
        """
        self._call(
            "PUT",
            "/nodes/{node}/storage/{storage}/content/{volume}",
            {"storage": storage, "volume": volid},
            {"protected": int(protected)},
        )

    def delete_volume(self, storage: str, volid: str) -> Upid | None:
        """``DELETE …/storage/{storage}/content/{volume}``: a UPID, or ``None`` if PVE
        deleted synchronously."""
        raw = self._dispatch(
            "DELETE",
            "/nodes/{node}/storage/{storage}/content/{volume}",
            {"storage": storage, "volume": volid},
            None,
            task_type="imgdel",
            vmid=None,
        )
        return None if raw in (None, "") else self._upid(raw, "delete volume")

    # --- tasks ------------------------------------------------------------------------------

    def task_status(self, upid: Upid | str) -> dict[str, Any]:
        """``GET …/tasks/{upid}/status``: ``status`` running|stopped, ``exitstatus``."""
        u = upid if isinstance(upid, Upid) else Upid.parse(upid)
        return dict(self._call("GET", _TASK + "/status", {"node": u.node, "upid": u}))

    def task_log(self, upid: Upid | str, start: int = 0, limit: int = 50) -> list[dict[str, Any]]:
        """``GET …/tasks/{upid}/log``: ``[{n, t}, …]`` (``limit=0`` means all lines)."""
        u = upid if isinstance(upid, Upid) else Upid.parse(upid)
        params = {"start": start, "limit": limit}
        return list(self._call("GET", _TASK + "/log", {"node": u.node, "upid": u}, params) or [])

    def find_task(self, type: str, vmid: int | None, since: float) -> Upid | None:
        """The newest task of ``type`` for ``vmid`` started by this token at or after ``since``
        (epoch seconds), read from ``GET /nodes/{node}/tasks``; ``None`` if there is none."""
        data = self._call(
            "GET",
            "/nodes/{node}/tasks",
            params={"typefilter": type, "vmid": vmid, "source": "all"},
        )
        found: list[Upid] = []
        for item in data or []:
            try:
                upid = Upid.parse(str(item.get("upid", "")))
            except ValueError:
                continue
            if (
                upid.type == type
                and (vmid is None or upid.id == str(vmid))
                and upid.user == self.endpoint.token_id
                and upid.starttime >= since
            ):
                found.append(upid)
        return max(found, key=lambda u: (u.starttime, u.pid), default=None)

    def recover_dispatch(self, err: DispatchLostError, *, slack_s: float = 2.0) -> Upid | None:
        """After a lost dispatch answer: the task it started, if any (never re-sends).

        ``slack_s`` absorbs clock skew between this host and the node (``starttime`` is the
        node's clock) and the whole-second resolution of ``starttime``.
        """
        return self.find_task(err.task_type, err.vmid, since=int(err.sent_at - slack_s))

    def wait_task(
        self,
        upid: Upid | str,
        timeout_s: float,
        on_progress: Callable[[Mapping[str, Any]], None] | None = None,
    ) -> TaskResult:
        """Poll until the task stops; ``TaskFailedError`` unless ``OK``/``WARNINGS: n``,
        ``TaskTimeoutError`` at the deadline (poll policy)."""
        u = upid if isinstance(upid, Upid) else Upid.parse(upid)
        return wait_for_task(
            lambda t: dict(self._request("GET", _TASK + "/status", {"node": t.node, "upid": t})),
            u,
            timeout_s=timeout_s,
            backoff=self.poll,
            clock=self._clock,
            sleep=self._sleep,
            on_progress=on_progress,
        )

    # --- roll-out (issue 11) ---

    def move_volume_to(
        self,
        vmid: int,
        volume: str,
        target_vmid: int,
        target_volume: str | None = None,
        *,
        digest: str | None = None,
        target_digest: str | None = None,
    ) -> Upid:
        """``POST …/move_volume`` with ``target-vmid``: hand an ``mpN`` volume to another CT.

        PVE renames the volume to the target's VMID (``rename_volume``) and rewrites both
        configs under both config locks in one ``move_volume`` task, so the volume always
        belongs to exactly one CT (``API2/LXC.pm`` ``move_volume``, ``$volume_reassignfn``).
        It refuses ``rootfs``, a running source, a ``lock:`` on either CT and volumes used by
        snapshots. The task id is ``<vmid>-<key>><target>-<key>``, not a VMID, so a lost
        answer is looked up by type only.
        """
        params = {
            "volume": volume,
            "target-vmid": target_vmid,
            "target-volume": target_volume,
            "digest": digest,
            "target-digest": target_digest,
        }
        raw = self._dispatch(
            "POST",
            _LXC + "/move_volume",
            {"vmid": vmid},
            params,
            task_type="move_volume",
            vmid=None,
        )
        return self._upid(raw, "move volume")

    def restore_over(self, vmid: int, archive: str, overrides: Mapping[str, Any]) -> Upid:
        """``POST /nodes/{node}/lxc`` with ``restore=1, force=1`` over an existing, stopped CT.

        PVE refuses a running CT and one with ``protection`` set, allocates the new volumes,
        then destroys **every** volume of the old config (``destroy_lxc_container``), data
        mount points included, before extracting; if extraction fails the config is gone too
        (``API2/LXC.pm`` ``create_vm``). Callers move data volumes away first.
        """
        if "start" in overrides or "unique" in overrides:
            raise ConfigError("restore", "a restore over an existing CT takes no start/unique")
        params = {**overrides, "vmid": vmid, "ostemplate": archive, "restore": 1, "force": 1}
        raw = self._dispatch(
            "POST", "/nodes/{node}/lxc", None, params, task_type="vzrestore", vmid=vmid
        )
        return self._upid(raw, "restore over")
