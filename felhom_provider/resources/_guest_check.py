"""``FelhomGuest`` inputs: the diff table and ``check`` (validate, normalise, no shrinking).

Pure functions over plain dicts so they run at preview without touching PVE, and so the
tests can drive them with wire-shaped values (floats, ``Unknown()``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi.dynamic import CheckResult
from pulumi.output import Unknown

from felhom_provider.reconcile.model import GuestSpec, MountSpec
from felhom_provider.resources._diff import DiffTable, canonical, is_unknown
from felhom_provider.resources._validate import (
    BRIDGE_RE,
    HOSTNAME_RE,
    NODE_RE,
    STORAGE_RE,
    VMID_MAX,
    VMID_MIN,
    VOLID_RE,
    Checker,
    finish_check,
    old_int,
)

GUEST_TABLE = DiffTable(
    # A different archive, node, storage or privilege model is a different guest; a pinned
    # VMID is its identity. The engine's in-place plan has no bridge step, so a new bridge
    # replaces the guest rather than being silently ignored.
    replace=frozenset(
        {"archive", "node", "pinned_vmid", "rootfs_storage", "unprivileged", "bridge"}
    ),
    update=frozenset(
        {
            "name",
            "owner",
            "hostname",
            "cores",
            "memory_mib",
            "swap_mib",
            "rootfs_gib",
            "mounts",
            "tags",
        }
    ),
)

# PVE limits: mp0..mp255, cores up to 8192, memory at least 16 MiB.
MAX_MOUNTS = 256
MAX_CORES = 8192
MIN_MEMORY_MIB = 16

_HOSTNAME_HINT = "one lower-case DNS label (a-z, 0-9, '-', at most 63), e.g. acme-web"
_SHRINK_HOWTO = (
    "PVE cannot shrink a volume, and a smaller or missing volume would lose data. To do it on "
    "purpose, back the data up, then either recreate the guest (`pulumi state unprotect <urn>`, "
    "`pulumi destroy --target <urn>`, `pulumi up`) or change it in PVE yourself and run "
    "`pulumi refresh` so that state matches"
)


def _owner_ok(owner: str) -> bool:
    parts = owner.split("/")
    return len(parts) == 3 and all(parts) and not any(c.isspace() for c in owner)


def _mounts(checker: Checker, raw: Any) -> Any:
    """Normalise ``mounts`` to ``[{storage, size_gib, path}]`` with unique paths."""
    if isinstance(raw, Unknown):
        return raw
    if raw is None:
        return []
    if not isinstance(raw, list | tuple):
        checker.fail("mounts", "must be a list of {storage, size_gib, path}")
        return []
    if len(raw) > MAX_MOUNTS:
        checker.fail("mounts", f"at most {MAX_MOUNTS} mounts (mp0..mp255), got {len(raw)}")
    result: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        prop = f"mounts[{index}]"
        if isinstance(item, Unknown):
            return raw
        if not isinstance(item, Mapping):
            checker.fail(prop, "must be an object {storage, size_gib, path}")
            continue
        unknown = sorted(set(item) - {"storage", "size_gib", "path"})
        if unknown:
            checker.fail(prop, f"unknown keys {unknown}")
        path = checker.mount_path(f"{prop}.path", item.get("path"))
        if isinstance(path, str):
            if path in seen:
                checker.fail(f"{prop}.path", f"{path!r} is mounted twice")
            seen.add(path)
        result.append(
            {
                "storage": checker.string(
                    f"{prop}.storage", pattern=STORAGE_RE, value=item.get("storage")
                ),
                "size_gib": checker.integer(
                    f"{prop}.size_gib", minimum=1, maximum=131072, value=item.get("size_gib")
                ),
                "path": path,
            }
        )
    return result


def _no_shrinking(checker: Checker, olds: Mapping[str, Any], inputs: Mapping[str, Any]) -> None:
    """Refuse a smaller rootfs, a smaller or re-homed mount and a removed mount.

    Not when a replace key changes too: the guest is then made anew (and protection, not
    this check, is what guards a customer guest against replacement).
    """
    if any(
        k in olds and canonical(olds[k]) != canonical(inputs.get(k)) for k in GUEST_TABLE.replace
    ):
        return
    old_rootfs, new_rootfs = old_int(olds, "rootfs_gib"), inputs.get("rootfs_gib")
    if old_rootfs is not None and isinstance(new_rootfs, int) and new_rootfs < old_rootfs:
        checker.fail(
            "rootfs_gib",
            f"cannot shrink from {old_rootfs} GiB to {new_rootfs} GiB. {_SHRINK_HOWTO}",
        )
    old_mounts, new_mounts = olds.get("mounts"), inputs.get("mounts")
    if not isinstance(old_mounts, list) or not isinstance(new_mounts, list):
        return
    by_path = {m.get("path"): (i, m) for i, m in enumerate(new_mounts) if isinstance(m, Mapping)}
    for old in old_mounts:
        if not isinstance(old, Mapping) or not isinstance(old.get("path"), str):
            continue
        path = old["path"]
        if path not in by_path:
            checker.fail(
                "mounts",
                f"removing the mount at {path} would destroy its volume and data. {_SHRINK_HOWTO}",
            )
            continue
        index, new = by_path[path]
        old_size, new_size = old_int(old, "size_gib"), new.get("size_gib")
        if old_size is not None and isinstance(new_size, int) and new_size < old_size:
            checker.fail(
                f"mounts[{index}].size_gib",
                f"cannot shrink {path} from {old_size} GiB to {new_size} GiB. {_SHRINK_HOWTO}",
            )
        old_storage, new_storage = old.get("storage"), new.get("storage")
        if isinstance(new_storage, str) and old_storage not in (None, new_storage):
            checker.fail(
                f"mounts[{index}].storage",
                f"moving {path} from {old_storage} to {new_storage} would leave its data "
                f"behind. {_SHRINK_HOWTO}",
            )


def check_guest(olds: Mapping[str, Any], news: Mapping[str, Any]) -> CheckResult:
    """Validate and normalise ``FelhomGuest`` inputs; failures name the field."""
    c = Checker(news)
    name = c.string("name")
    inputs: dict[str, Any] = {
        "name": name,
        "owner": c.string("owner"),
        "node": c.string("node", pattern=NODE_RE, hint="a PVE node name"),
        "archive": c.string("archive", pattern=VOLID_RE, hint="a volume id <storage>:<volume>"),
        "hostname": c.string(
            "hostname",
            pattern=HOSTNAME_RE,
            hint=_HOSTNAME_HINT,
            default=name if isinstance(name, str) and HOSTNAME_RE.match(name) else None,
        ),
        "cores": c.integer("cores", minimum=1, maximum=MAX_CORES, default=1),
        "memory_mib": c.integer("memory_mib", minimum=MIN_MEMORY_MIB, default=1024),
        "swap_mib": c.integer("swap_mib", minimum=0, default=512),
        "rootfs_storage": c.string("rootfs_storage", pattern=STORAGE_RE, default="local-lvm"),
        "rootfs_gib": c.integer("rootfs_gib", minimum=1, maximum=131072, default=8),
        "mounts": _mounts(c, news.get("mounts")),
        "bridge": c.string("bridge", pattern=BRIDGE_RE, default="vmbr0"),
        "pinned_vmid": c.integer("pinned_vmid", minimum=VMID_MIN, maximum=VMID_MAX, optional=True),
        "unprivileged": c.boolean("unprivileged", default=True),
        "tags": c.tags("tags"),
    }
    owner = inputs["owner"]
    if isinstance(owner, str) and not _owner_ok(owner):
        c.fail("owner", f"{owner!r} must be <project>/<stack>/<name>")
    old_owner = olds.get("owner")
    if isinstance(old_owner, str) and old_owner:
        # The marker is the guest's identity on PVE (adoption, ownership checks); a renamed
        # stack must not orphan or replace its guests, so the first owner sticks.
        inputs["owner"] = old_owner
    if inputs["unprivileged"] is False:
        c.fail("unprivileged", "only unprivileged guests are supported (design §2.6)")
    mounts = inputs["mounts"]
    if isinstance(mounts, list) and not is_unknown(mounts):
        inputs["mounts"] = sorted(mounts, key=lambda m: str(m.get("path")))
    _no_shrinking(c, olds, inputs)
    return finish_check(c, news, inputs, GUEST_TABLE, spec_from_inputs)


def spec_from_inputs(props: Mapping[str, Any]) -> GuestSpec:
    """The engine's spec from checked inputs (ints restored: they crossed the wire as floats)."""
    pinned = props.get("pinned_vmid")
    return GuestSpec(
        name=str(props["name"]),
        owner=str(props["owner"]),
        node=str(props["node"]),
        archive=str(props["archive"]),
        hostname=str(props["hostname"]),
        cores=int(props["cores"]),
        memory_mib=int(props["memory_mib"]),
        swap_mib=int(props["swap_mib"]),
        rootfs_storage=str(props["rootfs_storage"]),
        rootfs_gib=int(props["rootfs_gib"]),
        mounts=tuple(MountSpec.from_dict(dict(m)) for m in props.get("mounts") or ()),
        bridge=str(props.get("bridge", "vmbr0")),
        vmid=None if pinned is None else int(pinned),
        unprivileged=bool(props.get("unprivileged", True)),
        tags=tuple(str(t) for t in props.get("tags") or ()),
    )
