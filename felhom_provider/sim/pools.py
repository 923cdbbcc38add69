"""Resource pools: ``/pools`` and pool membership of CTs and storages.

Sources: pve-manager ``PVE/API2/Pool.pm`` (``index``, ``create_pool``, ``update_pool``,
``read_pool``, ``delete_pool`` and the deprecated ``/pools/{poolid}`` variants),
pve-access-control ``AccessControl.pm`` (``add_vm_to_pool``, ``remove_vm_access``,
``lock_user_config`` prefixing errors), ``RPCEnvironment.pm`` (``check_pool_exist``: 403
``pool '<id>' does not exist``; ``check_perm_modify``: ``Permissions.Modify`` or
``VM.Allocate`` on ``/vms/<id>``, ``Datastore.Allocate`` on ``/storage/<id>``).

Rules: creating, updating and deleting need ``Pool.Allocate`` on ``/pool/<id>``; reading one
needs ``Pool.Audit``; the list shows only pools the caller may audit. A pool name starts with
a letter (nested ``a/b`` needs its parent); a VM belongs to at most one pool (moving needs
``allow-move`` and ``Pool.Allocate`` on the old pool); only an empty pool can be deleted
(destroyed guests do not count). A destroyed CT leaves its pool; create/restore with
``pool`` adds the CT when the task succeeds. The pool records themselves (``Pools``, the
``user.cfg`` part) are in ``poolcfg``; this module holds the API's rules over them.

Not imitated: privileges inherited through pool ACLs (``/pool/<id>`` grants nothing on its
members here except where PVE checks the pool path itself, as ``create_vm`` does), RRD
figures in member entries (zeros), VMs (only CTs exist).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from felhom_provider.sim.errors import SimApiError
from felhom_provider.sim.lxc_power import vm_status
from felhom_provider.sim.poolcfg import Pool
from felhom_provider.sim.storage import STORAGES

if TYPE_CHECKING:
    from felhom_provider.sim.state import SimState

_SPLIT = re.compile(r"[;, ]+")


def index(
    state: SimState, actor: str, poolid: str | None = None, type_: str | None = None
) -> list[dict[str, Any]]:
    """``GET /pools``: the pools the caller may audit, or one pool with its members."""
    pools = state.pools
    with pools.lock:
        if poolid is not None:
            if poolid not in pools.pools:
                raise SimApiError(f"pool '{poolid}' does not exist")
            return [_read(state, poolid, type_)]
        return [
            {"poolid": k, **({"comment": p.comment} if p.comment is not None else {})}
            for k, p in sorted(pools.pools.items())
            if state.auth.has(actor, f"/pool/{k}", "Pool.Audit")
        ]


def read(state: SimState, actor: str, poolid: str, type_: str | None = None) -> dict[str, Any]:
    """``GET /pools/{poolid}`` (deprecated in PVE 8.1, still served)."""
    state.auth.check(actor, f"/pool/{poolid}", ["Pool.Audit"])
    return index(state, actor, poolid, type_)[0]


def _read(state: SimState, poolid: str, type_: str | None) -> dict[str, Any]:

    pool = state.pools.pools[poolid]
    members: list[dict[str, Any]] = []
    if type_ in (None, "lxc"):
        for vmid in sorted(pool.vms):
            ct = state.cts.get(vmid)
            if ct is None:
                continue
            item = vm_status(state, ct)
            item.pop("ha", None)
            members.append({"id": f"lxc/{vmid}", "node": state.node, **item})
    if type_ in (None, "storage"):
        for sid in sorted(pool.storage):
            if sid in STORAGES:
                status = state.storage.status(sid)
                members.append(
                    {
                        "id": f"storage/{state.node}/{sid}",
                        "node": state.node,
                        "storage": sid,
                        "type": "storage",
                        "status": "available",
                        "plugintype": status["type"],
                        "content": status["content"],
                        "disk": status["used"],
                        "maxdisk": status["total"],
                        "shared": 0,
                    }
                )
    info: dict[str, Any] = {"poolid": poolid, "members": members}
    if pool.comment is not None:
        info["comment"] = pool.comment
    return info


def create(state: SimState, actor: str, poolid: str, comment: str | None) -> None:
    """``POST /pools``."""
    state.auth.check(actor, f"/pool/{poolid}", ["Pool.Allocate"])
    with state.pools.lock:
        try:
            if poolid in state.pools.pools:
                raise SimApiError(f"pool '{poolid}' already exists")
            parent, _, leaf = poolid.rpartition("/")
            if parent and parent not in state.pools.pools:
                raise SimApiError(f"parent '{parent}' of pool '{poolid}' does not exist")
            if not re.match(r"[A-Za-z]", leaf):
                raise SimApiError("pool name must start with a letter")
        except SimApiError as exc:
            raise SimApiError(f"create pool failed: {exc.message}") from None
        state.pools.pools[poolid] = Pool(comment or None)
        state.pools.save()


def update(state: SimState, actor: str, params: dict[str, Any]) -> None:
    """``PUT /pools`` and ``PUT /pools/{poolid}``: comment, add or remove members."""
    poolid = str(params["poolid"])
    state.auth.check(actor, f"/pool/{poolid}", ["Pool.Allocate"])
    pools = state.pools
    with pools.lock:
        pool = pools.pools.get(poolid)
        try:
            if pool is None:
                raise SimApiError(f"pool '{poolid}' does not exist")
            new = Pool(pool.comment, set(pool.vms), set(pool.storage))
            moved: dict[int, str] = {}
            if params.get("comment") is not None:
                new.comment = str(params["comment"])
            for vmid in (int(v) for v in _SPLIT.split(str(params.get("vms") or "")) if v):
                _check_perm_modify(state, actor, f"/vms/{vmid}", "VM.Allocate")
                if params.get("delete"):
                    if vmid not in new.vms:
                        raise SimApiError(f"VM {vmid} is not a pool member")
                    new.vms.discard(vmid)
                    continue
                if vmid in new.vms:
                    raise SimApiError(f"VM {vmid} is already a pool member")
                old = pools.pool_of(vmid)
                if old is not None:
                    if not params.get("allow-move"):
                        raise SimApiError(
                            f"VM {vmid} belongs already to pool '{old}' and 'allow-move' is not set"
                        )
                    state.auth.check(actor, f"/pool/{old}", ["Pool.Allocate"])
                    moved[vmid] = old
                new.vms.add(vmid)
            for sid in (s for s in _SPLIT.split(str(params.get("storage") or "")) if s):
                _check_perm_modify(state, actor, f"/storage/{sid}", "Datastore.Allocate")
                if params.get("delete"):
                    if sid not in new.storage:
                        raise SimApiError(f"Storage '{sid}' is not a pool member")
                    new.storage.discard(sid)
                elif sid in new.storage:
                    raise SimApiError(f"Storage '{sid}' is already a pool member")
                else:
                    new.storage.add(sid)
        except SimApiError as exc:
            raise SimApiError(f"update pools failed: {exc.message}") from None
        for vmid, old in moved.items():
            pools.pools[old].vms.discard(vmid)
        pools.pools[poolid] = new
        pools.save()


def _check_perm_modify(state: SimState, actor: str, path: str, alt: str) -> None:
    """``check_perm_modify``: ``Permissions.Modify`` or the path's own allocate privilege."""
    state.auth.check(actor, path, ["Permissions.Modify", alt], any_=True)


def delete(state: SimState, actor: str, poolid: str) -> None:
    """``DELETE /pools`` and ``DELETE /pools/{poolid}``: only an empty pool."""
    state.auth.check(actor, f"/pool/{poolid}", ["Pool.Allocate"])
    pools = state.pools
    with pools.lock:
        try:
            pool = pools.pools.get(poolid)
            if pool is None:
                raise SimApiError(f"pool '{poolid}' does not exist")
            for sub in sorted(k for k in pools.pools if k.startswith(poolid + "/")):
                raise SimApiError(f"pool '{poolid}' is not empty (contains pool '{sub}')")
            for vmid in sorted(pool.vms):
                if vmid in state.cts:  # destroyed guests are ignored
                    raise SimApiError(f"pool '{poolid}' is not empty (contains VM {vmid})")
            for sid in sorted(pool.storage):
                if sid in STORAGES:
                    raise SimApiError(f"pool '{poolid}' is not empty (contains storage '{sid}')")
        except SimApiError as exc:
            raise SimApiError(f"delete pool failed: {exc.message}") from None
        del pools.pools[poolid]
        pools.save()
