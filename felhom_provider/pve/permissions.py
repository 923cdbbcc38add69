"""Preflight: compare the token's effective privileges with what a job needs, before any change.

``GET /access/permissions`` (pve-access-control ``API2/AccessControl.pm``, ``RPCEnvironment.pm``
``permissions``) returns ``{path: {privilege: propagate}}`` for the calling token — already the
intersection with its user's privileges when the token is privilege-separated. A privilege
holds on a path if that path lists it, or if an ancestor lists it with propagate = 1. Checking
all of it up front lets one error name every missing privilege, instead of the operator
fixing them one failed ``pulumi up`` at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from felhom_provider.errors import PermissionDeniedError

Granted = Mapping[str, Mapping[str, Any]]


def _normalize(path: str) -> str:
    parts = [p for p in path.split("/") if p]
    return "/" + "/".join(parts)


def _ancestors(path: str) -> list[str]:
    """``/vms/123`` → ``['/vms', '/']`` (nearest first)."""
    parts = [p for p in path.split("/") if p]
    return ["/" + "/".join(parts[:i]) for i in range(len(parts) - 1, -1, -1)]


def holds(granted: Granted, path: str, privilege: str) -> bool:
    """Whether ``privilege`` is effective on ``path`` according to a permissions map.

    Each listed path carries its complete effective set (PVE evaluates ``permissions()`` per
    path, a deeper ACL replacing what the user inherited). So a listed path is authoritative;
    an unlisted one inherits what its nearest listed ancestor propagates.
    """
    norm = {_normalize(k): v for k, v in granted.items()}
    path = _normalize(path)
    if path in norm:
        return privilege in norm[path]
    for ancestor in _ancestors(path):
        if ancestor in norm:
            return _truthy(norm[ancestor].get(privilege))
    return False


def _truthy(value: Any) -> bool:
    # PVE sends 1/0; the simulator or a future version may send booleans or strings.
    return value in (1, True, "1", "true")


def missing_privileges(granted: Granted, required: Mapping[str, Iterable[str]]) -> list[str]:
    """Every required privilege not held, as ``"<Privilege> on <path>"``, in a stable order."""
    missing: list[str] = []
    for path in sorted(required):
        for privilege in sorted(set(required[path])):
            if not holds(granted, path, privilege):
                missing.append(f"{privilege} on {_normalize(path)}")
    return missing


def check_preflight(
    granted: Granted, required: Mapping[str, Iterable[str]], *, token_id: str
) -> None:
    """Raise ``PermissionDeniedError`` naming every missing privilege at once, or return."""
    missing = missing_privileges(granted, required)
    if missing:
        raise PermissionDeniedError(
            f"API token {token_id} lacks {len(missing)} privilege(s): " + ", ".join(missing),
            missing=missing,
            token=token_id,
        )


def guest_bringup_privileges(
    *,
    vmid: int | None,
    storages: Iterable[str],
    backup_storage: str,
    archive_owner_vmid: int | None,
    bridge: str = "vmbr0",
    sdn_zone: str = "localnetwork",
    vlan: int | None = None,
    pool: str | None = None,
) -> dict[str, set[str]]:
    """What a token needs to restore, configure, start, inspect and destroy one guest.

    From the per-endpoint table in design §4.10: ``VM.Allocate`` plus the
    ``VM.Config.*`` of the keys the restore passes, ``VM.PowerMgmt``, ``VM.Audit``; archive
    access via ``Datastore.AllocateSpace`` on the backup storage plus ``VM.Backup`` on the
    archive's owner (``Storage.pm`` ``check_volume_access``); ``Datastore.AllocateSpace`` on
    each target storage; ``SDN.Use`` on the bridge (``GuestHelpers.pm`` ``check_vnet_access``),
    on ``<bridge>/<tag>`` for a VLAN-tagged port. A ``pool`` needs ``Pool.Allocate`` on
    ``/pool/<pool>`` (``API2/LXC.pm`` ``create_vm`` calls ``check_perm_modify`` on the pool,
    which ``RPCEnvironment.pm`` answers with ``Pool.Allocate`` or ``Permissions.Modify``).
    ``protection``, ``onboot`` and ``startup`` are options (``VM.Config.Options``), DNS keys
    network (``VM.Config.Network``): both are in the set already.
    """
    vm_path = f"/vms/{vmid}" if vmid is not None else "/vms"
    required: dict[str, set[str]] = {
        vm_path: {
            "VM.Allocate",
            "VM.Audit",
            "VM.PowerMgmt",
            "VM.Config.Disk",
            "VM.Config.CPU",
            "VM.Config.Memory",
            "VM.Config.Network",
            "VM.Config.Options",
        },
        f"/storage/{backup_storage}": {"Datastore.AllocateSpace"},
        f"/sdn/zones/{sdn_zone}/{bridge}": {"SDN.Use"},
    }
    if vlan is not None:
        required[f"/sdn/zones/{sdn_zone}/{bridge}/{vlan}"] = {"SDN.Use"}
    if pool is not None:
        required[f"/pool/{pool}"] = {"Pool.Allocate"}
    for storage in storages:
        required.setdefault(f"/storage/{storage}", set()).add("Datastore.AllocateSpace")
    if archive_owner_vmid is not None:
        required.setdefault(f"/vms/{archive_owner_vmid}", set()).add("VM.Backup")
    return required
