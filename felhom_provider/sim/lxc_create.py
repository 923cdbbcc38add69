"""``POST /nodes/{node}/lxc``: create from a vztmpl template, or restore a backup.

Sources: pve-container ``API2/LXC.pm`` ``create_vm``, ``LXC/Create.pm``
(``restore_configuration``, ``sanitize_and_merge_config``), ``PVE/LXC.pm`` ``create_disks``;
pve-cluster ``Cluster.pm`` ``check_vmid_unused``; pve-docs ``pct.adoc`` "Advanced Restore Mode".

Rules kept: synchronous checks (VMID collision, permissions, archive access, storage
support, mpN without rootfs, ``create_and_lock_config`` with ``lock: create``); the flock
held for the whole task; restore merge (passed keys win, archive fills the rest); advanced
restore (passed rootfs/mpN replace all archive mount points); ``unique`` regenerating every
archive ``netN`` over a passed one; archive ``template: 1`` making a template; archive
features copied unchecked; raw ``lxc.*`` lines dropped without root (``WARNINGS: 1``);
``password``/``ssh-public-keys`` ignored on restore; ``start=1`` forking a detached start.

``pool`` must exist (403 otherwise) and receives the CT when the task succeeds.

Not imitated: HA, ``bwlimit``, unpacking a real file system, bind/device mount
points, firewall config in archives, OS detection beyond the template's name.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from felhom_provider.sim import pctconf, propstr
from felhom_provider.sim.auth import ROOT
from felhom_provider.sim.backup import check_volume_access, read_archive
from felhom_provider.sim.errors import (
    ParamError,
    PermissionCheckError,
    SimApiError,
    TaskError,
    lock_timeout_message,
)
from felhom_provider.sim.lxc_config import (
    NEW_DISK_RE,
    alloc_mount,
    check_bridge,
    check_modify_perm,
    check_storage_for_disks,
    mount_parts,
    net_value,
)
from felhom_provider.sim.lxc_power import convert_to_template, destroy_volumes, start
from felhom_provider.sim.models import Container
from felhom_provider.sim.params import CONFIG_KEYS, MP_FORMAT, NET_FORMAT, ROOTFS_FORMAT, Spec
from felhom_provider.sim.schema import family_of
from felhom_provider.sim.storage import GIB, STORAGES

if TYPE_CHECKING:
    from felhom_provider.sim.state import SimState
    from felhom_provider.sim.tasks import Task

MOUNT_KEY = re.compile(r"^(rootfs|mp\d+)$")
_SKIP_FROM_ARCHIVE = re.compile(
    r"^(digest|rootfs|snapshots|unprivileged|parent|mp\d+|unused\d+|template|lock)$"
)


def _config_keys(params: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in params.items() if k in CONFIG_KEYS or family_of(k, CONFIG_KEYS)}


def create_ct(state: SimState, actor: str, params: dict[str, Any]) -> str:
    """Create or restore a CT; returns the ``vzcreate``/``vzrestore`` UPID."""
    vmid = int(params["vmid"])
    restore = bool(params.get("restore"))
    force = bool(params.get("force"))
    verb = "restore" if restore else "create"
    conf = _config_keys(params)
    with state.mutex:
        existing = state.cts.get(vmid)
    if existing is not None and not (restore and force):
        raise SimApiError(f"CT {vmid} already exists on node '{state.node}'")
    if existing is not None:
        if existing.status == "running":
            raise SimApiError("can't overwrite running container")
        if existing.conf.get("protection") == "1":
            raise SimApiError(f"unable to restore CT {vmid} - protection mode enabled")

    # Permissions, in create_vm's order.
    if not restore and conf.get("unprivileged", "1") == "0" and actor != ROOT:
        state.auth.check(actor, "/", ["Sys.Modify"])
    if params.get("ha-managed"):
        state.auth.check(actor, "/", ["Sys.Console"])
    path = f"/vms/{vmid}"
    pool = params.get("pool")
    if pool is not None:
        state.pools.check_exists(str(pool))
    if not (
        state.auth.has(actor, path, "VM.Allocate")
        or (pool and state.auth.has(actor, f"/pool/{pool}", "VM.Allocate"))
    ):
        if not (
            restore and force and existing is not None and state.auth.has(actor, path, "VM.Backup")
        ):
            raise PermissionCheckError()
        # VM.Backup only: an explicit switch to privileged needs Sys.Modify (create_vm).
        if existing.conf.get("unprivileged") == "1" and conf.get("unprivileged") == "0":
            state.auth.check(actor, "/", ["Sys.Modify"])
    unpriv_passed = conf.get("unprivileged")
    check_modify_perm(
        state, actor, vmid, conf, [], unprivileged=unpriv_passed != "0", old_features=None
    )

    archive = str(params["ostemplate"])
    vol = state.storage.get(archive)
    if vol is None:
        raise SimApiError(f"volume '{archive}' does not exist")
    want = "backup" if restore else "vztmpl"
    if vol.content != want:
        raise SimApiError(f"unable to use volume {archive} - content type needs to be '{want}'")
    check_volume_access(state, actor, vol)

    storage = str(params.get("storage", "local"))
    mounts = {k: v for k, v in conf.items() if MOUNT_KEY.match(k)}
    if any(k != "rootfs" for k in mounts) and "rootfs" not in mounts:
        raise SimApiError("mount points configured, but 'rootfs' not set - aborting")
    if not restore and "rootfs" not in mounts:
        conf["rootfs"] = mounts["rootfs"] = f"{storage}:4"
    for key, value in mounts.items():
        check_storage_for_disks(mount_parts(key, value)["volume"], key)
    if not mounts:
        if storage not in STORAGES:
            raise SimApiError(f"storage '{storage}' does not exist")
        if "rootdir" not in STORAGES[storage].content:
            raise ParamError(
                {"storage": f"storage '{storage}' does not support container directories"}
            )
    targets = {NEW_DISK_RE.match(mount_parts(k, v)["volume"]).group(1) for k, v in mounts.items()}  # type: ignore[union-attr]
    for sid in targets | ({storage} if not mounts else set()):
        if actor != ROOT:
            state.auth.check(actor, f"/storage/{sid}", ["Datastore.AllocateSpace"])

    # create_and_lock_config: flock (shorter wait), then {lock: create}, re-checking the VMID.
    if not state.locks.acquire(vmid, "create", timeout=state.settings.create_wait):
        raise SimApiError(f"unable to {verb} CT {vmid} - {lock_timeout_message(vmid)}")
    with state.mutex:
        if vmid in state.cts and not (restore and force):
            state.locks.release(vmid)
            raise SimApiError(
                f"unable to {verb} CT {vmid} - CT {vmid} already exists on node '{state.node}'"
            )
        old = state.cts.get(vmid)
        # create_and_lock_config: a new CT is {lock: create}; an existing one (restore with
        # force) keeps its config, now locked, until the worker destroys its volumes.
        old_conf = dict(old.conf) if old is not None else {}
        ct = old if old is not None else Container(vmid, {})
        ct.conf["lock"] = "create"
        state.cts[vmid] = ct
        state.save_ct(ct)
    created: list[str] = []
    state.hooks.on_create_accepted(ct, state.clock.duration("vzrestore" if restore else "vzcreate"))

    def replace_old(task: Task) -> None:
        # create_vm: the new disks exist, then destroy_lxc_container(old conf, {lock: create})
        # frees every volume of the old config, data mount points included.
        if old_conf:
            destroy_volumes(state, task, vmid, old_conf)
            with state.mutex:
                ct.conf = {"lock": "create"}
                state.save_ct(ct)

    def body(task: Task) -> int:
        if restore:
            return _restore(
                state,
                task,
                actor,
                ct,
                passed=conf,
                params=params,
                storage=storage,
                created=created,
                replace_old=replace_old,
                old_unprivileged=old_conf.get("unprivileged", "0") if old_conf else None,
            )
        return _create(state, task, ct, conf=conf, params=params, created=created)

    def on_error(task: Task) -> None:
        # destroy_config_on_error: drop the new disks and, for a new VMID, the config.
        for volid in created:
            state.storage.free(volid)
        state.drop_ct(vmid)

    def after(task: Task) -> None:
        if pool is not None:
            state.pools.add_vm(vmid, str(pool))  # AccessControl::add_vm_to_pool
        if params.get("start"):
            start(state, actor, vmid)  # fire and forget: PVE discards this UPID too

    return state.run_task(
        actor,
        "vzrestore" if restore else "vzcreate",
        vmid,
        lock_taken=True,
        body=body,
        on_error=on_error,
        error_prefix=f"unable to {verb} CT {vmid} - ",
        after=after,
    )


def _alloc_mounts(
    state: SimState, ct: Container, mounts: dict[str, str], created: list[str]
) -> dict[str, str]:
    out = {}
    for key, value in sorted(mounts.items(), key=lambda kv: (kv[0] != "rootfs", kv[0])):
        out[key] = alloc_mount(state, ct.vmid, key, value)
        created.append(mount_parts(key, out[key])["volume"])
    return out


def _create(
    state: SimState,
    task: Task,
    ct: Container,
    *,
    conf: dict[str, str],
    params: dict[str, Any],
    created: list[str],
) -> int:
    log = state.tasks.log
    tmpl = str(params["ostemplate"]).split("/")[-1]
    mounts = {k: v for k, v in conf.items() if MOUNT_KEY.match(k)}
    new_conf = {k: _normal(k, v) for k, v in conf.items() if not MOUNT_KEY.match(k)}
    new_conf.update(_alloc_mounts(state, ct, mounts, created))
    log(task, f"extracting archive '/var/lib/vz/template/cache/{tmpl}'")
    log(task, "Total bytes read: 524288000 (500MiB, 260MiB/s)")
    log(task, "Detected container architecture: amd64")
    new_conf.setdefault("arch", "amd64")
    new_conf.setdefault(
        "ostype",
        tmpl.split("-")[0] if tmpl.split("-")[0] in ("debian", "ubuntu", "alpine") else "unmanaged",
    )
    new_conf.setdefault("unprivileged", "1")
    _defaults(new_conf, ct.vmid)
    for kind in ("rsa", "ecdsa", "ed25519"):
        log(task, f"Creating SSH host key 'ssh_host_{kind}_key' - this may take some time ...")
    with state.mutex:
        ct.conf = {**new_conf, "lock": "create"}
        ct.guest = {
            "create": {
                "ssh-public-keys": params.get("ssh-public-keys"),
                "password": bool(params.get("password")),
            }
        }
    guest = state.hooks.on_template_create(ct)
    with state.mutex:
        ct.guest = dict(guest)
        ct.conf.pop("lock", None)
        state.save_ct(ct)
    return 0


def _normal(key: str, value: str) -> str:
    return net_value(value) if re.fullmatch(r"net\d+", key) else pctconf.normalise(key, value)


def _defaults(conf: dict[str, str], vmid: int) -> None:
    conf.setdefault("hostname", f"CT{vmid}")
    conf.setdefault("memory", "512")
    conf.setdefault("swap", "512")


def _restore(
    state: SimState,
    task: Task,
    actor: str,
    ct: Container,
    *,
    passed: dict[str, str],
    params: dict[str, Any],
    storage: str,
    created: list[str],
    replace_old: Callable[[Task], None],
    old_unprivileged: str | None,
) -> int:
    log = state.tasks.log
    archive = str(params["ostemplate"])
    log(task, f"recovering backed-up configuration from '{archive}'")
    text, guest = read_archive(state, archive)
    orig, raw_lxc = pctconf.parse(text)
    is_root = actor == ROOT
    for key, value in orig.items():
        if re.fullmatch(r"net\d+", key) and key not in passed:
            try:
                check_bridge(state, actor, propstr.parse(value, NET_FORMAT).get("bridge"))
            except PermissionCheckError as exc:
                raise TaskError(exc.message) from None
    was_template = orig.get("template") == "1"
    unprivileged = passed.get("unprivileged", orig.get("unprivileged", "0"))
    # create_vm: restoring a privileged CT over nothing or over an unprivileged one (an
    # implicit switch) needs Sys.Modify on /.
    privileged_switch = unprivileged == "0" and old_unprivileged in (None, "1")
    if privileged_switch and not is_root and not state.auth.has(actor, "/", "Sys.Modify"):
        raise TaskError("Permission check failed (/, Sys.Modify)")
    mounts = {k: v for k, v in passed.items() if MOUNT_KEY.match(k)}
    if not mounts:  # simple mode: recreate the archive's volumes with their sizes on `storage`
        for key, value in orig.items():
            if not MOUNT_KEY.match(key):
                continue
            parts = mount_parts(key, value)
            if parts["volume"].startswith("/"):
                continue  # bind/device mount points: root-only in PVE, not imitated here
            if "size" not in parts:
                raise TaskError("unable to detect disk size - please specify rootfs (size)")
            gib = propstr.parse_size(parts["size"]) / GIB
            parts["volume"] = f"{storage}:{gib:g}"
            parts.pop("size")
            mounts[key] = propstr.render(parts, _fmt(key))
    conf = {k: _normal(k, v) for k, v in passed.items() if not MOUNT_KEY.match(k)}
    conf.update(_alloc_mounts(state, ct, mounts, created))
    replace_old(task)
    log(task, f"restoring '{archive}' now..")
    log(task, f"extracting archive '/var/lib/vz/dump/{archive.rsplit('/', maxsplit=1)[-1]}'")
    fault = state.faults.match_task("vzrestore-extract", ct.vmid)
    if fault is not None:
        raise TaskError(fault)
    log(task, "merging backed-up and given configuration..")
    warnings = 0
    for key, value in orig.items():
        if _SKIP_FROM_ARCHIVE.match(key):
            continue
        if (
            key == "features"
            and unprivileged == "0"
            and orig.get("unprivileged") == "1"
            and not is_root
        ):
            continue
        if params.get("unique") and re.fullmatch(r"net\d+", key):
            net: dict[str, Any] = dict(propstr.parse(value, NET_FORMAT))
            net.pop("hwaddr", None)
            conf[key] = net_value(propstr.render(net, NET_FORMAT))
            continue
        conf.setdefault(key, value)
    kept_raw = raw_lxc
    if raw_lxc and not is_root:
        log(task, "WARN: skipping custom lxc options, restore manually as root:")
        log(task, "--------------------------------")
        for rk, rv in raw_lxc:
            log(task, f"{rk}: {rv}")
        log(task, "--------------------------------")
        kept_raw, warnings = [], 1
    conf["unprivileged"] = unprivileged
    _defaults(conf, ct.vmid)
    with state.mutex:
        ct.conf = {**conf, "lock": "create"}
        ct.raw_lxc = list(kept_raw)
        state.hooks.restore_payload(ct, guest)
        ct.conf.pop("lock", None)
        state.save_ct(ct)
    if was_template:
        log(task, "converting to template")
        convert_to_template(state, ct)
    return warnings


def _fmt(key: str) -> dict[str, Spec]:
    return ROOTFS_FORMAT if key == "rootfs" else MP_FORMAT
