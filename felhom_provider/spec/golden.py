"""The ``GoldenImage`` field table: the build recipe (``felhom:golden.build``), declared once.

Anything that changes what ends up in the archive replaces the image (a new archive is
built first, the old one deleted after); ``revision`` is a deliberate "rebuild now" knob.
Bookkeeping fields (``retain``, the build VMID and its reserved range) change in place.
"""

from __future__ import annotations

from typing import Any

from felhom_provider.spec import formats as fmt
from felhom_provider.spec.field import (
    Change,
    Field,
    FieldError,
    Table,
    boolean,
    integer,
    sub_object,
)

#: Default reserved VMID range of the build CT: no customer guest may pin a VMID in it.
RESERVED_FIRST, RESERVED_LAST = 9000, 9099

_RANGE_FIELDS = (
    Field("first", "int", "first reserved VMID", fmt.VMID, Change.LIVE, default=RESERVED_FIRST),
    Field("last", "int", "last reserved VMID", fmt.VMID, Change.LIVE, default=RESERVED_LAST),
)


def _range(value: Any) -> dict[str, Any]:
    rng = sub_object(_RANGE_FIELDS)(value)
    if rng["first"] > rng["last"]:
        raise FieldError(".last", f"must be >= first ({rng['first']}), got {rng['last']}")
    if rng["last"] - rng["first"] > 100_000:
        raise FieldError(".last", "a reserved range spans at most 100000 VMIDs")
    return rng


def _owner(value: Any) -> str:
    from felhom_provider.spec.guest import GUEST  # noqa: PLC0415 - one owner rule

    return str(GUEST.by_key["owner"].validate(value))


GOLDEN = Table(
    (
        Field(
            "name", "string", "resource name", fmt.HOSTNAME, Change.LIVE, required=True, stack=False
        ),
        Field(
            "owner",
            "string",
            "ownership marker of the build CT",
            _owner,
            # Set at create, like a guest's: a renamed stack or a stack id added later must
            # not show the image as changed (the marker only matters while a build runs).
            Change.FIXED,
            required=True,
            stack=False,
        ),
        Field(
            "node",
            "string",
            "PVE node of the build",
            fmt.NODE,
            Change.REPLACE,
            required=True,
            default_doc="`felhom:pve.node`",
        ),
        Field(
            "template",
            "string",
            "the Debian 13 template volid",
            fmt.VOLID,
            Change.REPLACE,
            required=True,
        ),
        Field(
            "hostname",
            "string",
            "build CT hostname (recorded as goldenHostname)",
            fmt.HOSTNAME,
            Change.REPLACE,
            default="felhom-golden",
        ),
        Field(
            "rootfsStorage",
            "string",
            "storage of the build CT's disk",
            fmt.STORAGE,
            Change.REPLACE,
            default="local-lvm",
        ),
        Field("rootfsGiB", "int", "build CT disk GiB", fmt.GIB, Change.REPLACE, default=8),
        Field("cores", "int", "build CT cores", integer(1, 8192), Change.REPLACE, default=2),
        Field(
            "memory", "int", "build CT MiB", integer(16, 4_194_304), Change.REPLACE, default=2048
        ),
        Field("bridge", "string", "build CT bridge", fmt.BRIDGE, Change.REPLACE, default="vmbr0"),
        Field(
            "archiveStorage",
            "string",
            "where vzdump writes the archive",
            fmt.STORAGE,
            Change.REPLACE,
            default="local",
        ),
        Field(
            "reservedVmids",
            "object",
            "`{first, last}`: VMIDs only build CTs use",
            _range,
            Change.LIVE,
            default={"first": RESERVED_FIRST, "last": RESERVED_LAST},
        ),
        Field(
            "buildVmid",
            "int",
            "pins the build CT's VMID (inside reservedVmids); else the lowest free one there",
            fmt.VMID,
            Change.LIVE,
        ),
        Field(
            "retain",
            "bool",
            "keep the archive when the image is deleted or replaced",
            boolean,
            Change.LIVE,
            default=False,
        ),
        Field(
            "revision",
            "int",
            "bump to rebuild (e.g. for fresh Docker packages)",
            integer(1, 1_000_000),
            Change.REPLACE,
            default=1,
        ),
    )
)

#: Outputs the build computes, in addition to every input.
COMPUTED = (
    "archive",
    "sizeBytes",
    "goldenMac",
    "goldenHostname",
    "features",
    "unprivileged",
    "dockerDriver",
    "opensshVersion",
    "createdAt",
)
