"""``FelhomGuest`` inputs: the diff table and ``check`` (validate, normalise, no shrinking).

Pure functions over plain dicts so they run at preview without touching PVE, and so the
tests can drive them with wire-shaped values (floats, ``Unknown()``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi.dynamic import CheckResult

from felhom_provider.reconcile.model import GuestSpec
from felhom_provider.resources._diff import DiffTable, canonical
from felhom_provider.resources._validate import Checker, finish_check, old_int
from felhom_provider.spec.field import FieldError
from felhom_provider.spec.guest import GUEST

#: The diff rules of ``spec.guest.GUEST``: a different archive, node, storage or bridge is
#: a different guest, a pinned VMID its identity; the rest is updated in place.
GUEST_TABLE = DiffTable.from_table(GUEST)

_SHRINK_HOWTO = (
    "PVE cannot shrink a volume, and a smaller or missing volume would lose data. To do it on "
    "purpose, back the data up, then either recreate the guest (`pulumi state unprotect <urn>`, "
    "`pulumi destroy --target <urn>`, `pulumi up`) or change it in PVE yourself and run "
    "`pulumi refresh` so that state matches"
)


def _no_shrinking(checker: Checker, olds: Mapping[str, Any], inputs: Mapping[str, Any]) -> None:
    """Refuse a smaller rootfs, a smaller or re-homed mount and a removed mount.

    Not when a replace key changes too: the guest is then made anew (and protection, not
    this check, is what guards a customer guest against replacement).
    """
    if any(
        k in olds and canonical(olds[k]) != canonical(inputs.get(k)) for k in GUEST_TABLE.replace
    ):
        return
    old_rootfs, new_rootfs = old_int(olds, "rootfsGiB"), inputs.get("rootfsGiB")
    if old_rootfs is not None and isinstance(new_rootfs, int) and new_rootfs < old_rootfs:
        checker.fail(
            "rootfsGiB",
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
        old_size, new_size = old_int(old, "sizeGiB"), new.get("sizeGiB")
        if old_size is not None and isinstance(new_size, int) and new_size < old_size:
            checker.fail(
                f"mounts[{index}].sizeGiB",
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
    """Validate and normalise ``FelhomGuest`` inputs by walking the field table; failures
    name the field. The hostname defaults to the name; the first owner sticks."""
    c = Checker(news)
    name = news.get("name")
    try:
        hostname_default = GUEST.by_key["hostname"].validate(name)
    except (FieldError, ValueError):
        hostname_default = None
    inputs = c.walk(GUEST, {"hostname": hostname_default})
    old_owner = olds.get("owner")
    if isinstance(old_owner, str) and old_owner:
        # The marker is the guest's identity on PVE (adoption, ownership checks); a renamed
        # stack must not orphan or replace its guests, so the first owner sticks.
        inputs["owner"] = old_owner
    _no_shrinking(c, olds, inputs)
    return finish_check(c, news, inputs, GUEST, spec_from_inputs)


def spec_from_inputs(props: Mapping[str, Any]) -> GuestSpec:
    """The engine's spec from checked inputs (the table restores wire floats to ints)."""
    return GuestSpec.from_inputs(props)
