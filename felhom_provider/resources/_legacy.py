"""State written before the field tables used snake_case names: read it under the new ones.

Without this, an existing stack's first ``up`` after the upgrade would see every renamed
replace-key (``rootfs_storage`` -> ``rootfsStorage``) as a change and replace guests and the
golden image. ``upgrade`` renames old keys in a resource's old inputs/outputs before they are
compared; nothing else changes, and keys already under their new name win.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_SIZES = {"memory_mib": "memory", "rootfs_storage": "rootfsStorage", "rootfs_gib": "rootfsGiB"}
#: Old guest keys -> new ones (None: dropped; ``pinned_vmid`` is the ``vmid`` output).
GUEST_RENAMES: dict[str, str | None] = {
    **_SIZES,
    "swap_mib": "swap",
    "host_keys": "hostKeys",
    "pinned_vmid": None,
    "unprivileged": None,
}
#: Old golden keys -> new ones.
GOLDEN_RENAMES: dict[str, str | None] = {
    **_SIZES,
    "archive_storage": "archiveStorage",
    "build_vmid": "buildVmid",
    "size_bytes": "sizeBytes",
    "golden_mac": "goldenMac",
    "golden_hostname": "goldenHostname",
    "docker_driver": "dockerDriver",
    "openssh_version": "opensshVersion",
    "created_at": "createdAt",
}


def upgrade(props: Mapping[str, Any], renames: Mapping[str, str | None]) -> dict[str, Any]:
    """``props`` with legacy keys renamed (mounts' ``size_gib`` too)."""
    out = {k: v for k, v in props.items() if k not in renames}
    for old, new in renames.items():
        if old in props and new is not None and new not in props:
            out[new] = props[old]
    mounts = out.get("mounts")
    if isinstance(mounts, list):
        out["mounts"] = [
            {("sizeGiB" if k == "size_gib" else k): v for k, v in m.items()}
            if isinstance(m, Mapping)
            else m
            for m in mounts
        ]
    return out
