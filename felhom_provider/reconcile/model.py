"""Typed inputs and outputs of the bring-up engine: guest and golden-image specs and states.

Specs are what a resource asks for (validated here, so bad input fails at preview with a
message naming the field); states are what the engine observed and publishes. States
round-trip through JSON-safe dicts (ints stay ints) because they travel in Pulumi state.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from felhom_provider.errors import ConfigError

#: Prefix of the ownership marker written into a guest's description (design §2.10).
MARKER_PREFIX = "felhom-owner="
#: Tag every guest made by this engine carries (PVE tags: ``[a-z0-9_][a-z0-9_\-+.]*``).
FELHOM_TAG = "felhom"

# PVE's ``dns-name`` format, lower case: the hostname becomes /etc/hostname and the DHCP
# client's announced name, so it must compare stably.
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOSTNAME_RE = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")
# pve-common JSONSchema ``pve-tag``.
_TAG_RE = re.compile(r"^[a-z0-9_][a-z0-9_\-+.]*$")
_STORAGE_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9\-_.]*$")
_BRIDGE_RE = re.compile(r"^[-_.\w]+$")
# pve-container: vmid 100..999999999.
VMID_MIN, VMID_MAX = 100, 999_999_999
MAX_MOUNTS = 256


def marker_for(owner: str) -> str:
    """The description line that marks a guest as owned by ``owner``."""
    return f"{MARKER_PREFIX}{owner}"


def owner_of(config: Mapping[str, Any]) -> str | None:
    """The owner named by the marker in a CT config's description, or None."""
    for raw in str(config.get("description") or "").splitlines():
        line = raw.strip()
        if line.startswith(MARKER_PREFIX):
            return line[len(MARKER_PREFIX) :].strip()
    return None


def owner_tag(owner: str) -> str:
    """A tag derived from ``owner``; PVE tags cannot hold ``/`` or ``=``, so it is a hash."""
    return f"felhom-{hashlib.sha256(owner.encode()).hexdigest()[:12]}"


def _require(cond: bool, fld: str, problem: str) -> None:
    if not cond:
        raise ConfigError(fld, problem)


def _positive_int(value: object, fld: str, *, minimum: int = 1) -> None:
    _require(
        isinstance(value, int) and not isinstance(value, bool) and value >= minimum,
        fld,
        f"must be an integer >= {minimum}, got {value!r}",
    )


def _check_hostname(value: str, fld: str) -> None:
    _require(
        isinstance(value, str) and len(value) <= 253 and bool(_HOSTNAME_RE.match(value)),
        fld,
        f"must be a DNS name of lower-case labels (a-z, 0-9, '-'), got {value!r}",
    )


def _check_owner(value: str) -> None:
    _require(
        isinstance(value, str) and bool(value) and "\n" not in value and value == value.strip(),
        "owner",
        f"must be a non-empty single-line string such as project/stack/name, got {value!r}",
    )


@dataclass(frozen=True)
class MountSpec:
    """A data volume: ``mpN=<storage>:<size_gib>,mp=<path>``."""

    storage: str
    size_gib: int
    path: str

    def __post_init__(self) -> None:
        _require(bool(_STORAGE_RE.match(self.storage or "")), "mounts.storage", "invalid id")
        _positive_int(self.size_gib, "mounts.sizeGiB")
        _require(
            isinstance(self.path, str)
            and self.path.startswith("/")
            and self.path != "/"
            and "," not in self.path
            and "=" not in self.path,
            "mounts.path",
            f"must be an absolute path other than / without ',' or '=', got {self.path!r}",
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MountSpec:
        """Inverse of :meth:`to_dict`."""
        return cls(str(data["storage"]), int(data["size_gib"]), str(data["path"]))


@dataclass(frozen=True)
class GuestSpec:
    """What one customer guest should be (the ``FelhomGuest`` inputs, normalised)."""

    name: str
    owner: str
    node: str
    archive: str
    hostname: str
    cores: int
    memory_mib: int
    swap_mib: int
    rootfs_storage: str
    rootfs_gib: int
    mounts: tuple[MountSpec, ...] = ()
    bridge: str = "vmbr0"
    vmid: int | None = None
    unprivileged: bool = True
    tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _require(bool(self.name), "name", "must not be empty")
        _check_owner(self.owner)
        _require(bool(self.node), "node", "must not be empty")
        _require(":" in self.archive, "archive", f"must be a volid, got {self.archive!r}")
        _check_hostname(self.hostname, "hostname")
        _positive_int(self.cores, "cores")
        _positive_int(self.memory_mib, "memory", minimum=16)
        _positive_int(self.swap_mib, "swap", minimum=0)
        _require(bool(_STORAGE_RE.match(self.rootfs_storage or "")), "rootfsStorage", "invalid")
        _positive_int(self.rootfs_gib, "rootfsGiB")
        _require(len(self.mounts) <= MAX_MOUNTS, "mounts", f"at most {MAX_MOUNTS}")
        paths = [m.path for m in self.mounts]
        _require(len(set(paths)) == len(paths), "mounts", "mount paths must be unique")
        _require(bool(_BRIDGE_RE.match(self.bridge or "")), "bridge", "invalid bridge name")
        if self.vmid is not None:
            _require(
                isinstance(self.vmid, int) and VMID_MIN <= self.vmid <= VMID_MAX,
                "vmid",
                f"must be in {VMID_MIN}..{VMID_MAX}, got {self.vmid!r}",
            )
        # An unprivileged guest is what keyctl/nesting in the archive are for (design §2.6);
        # a privileged restore would need Sys.Modify and drops the features without root.
        _require(self.unprivileged is True, "unprivileged", "only unprivileged guests")
        for tag in self.tags:
            _require(bool(_TAG_RE.match(tag)), "tags", f"invalid PVE tag {tag!r}")

    @property
    def marker(self) -> str:
        """The ownership marker line for this guest."""
        return marker_for(self.owner)


@dataclass(frozen=True)
class GuestState:
    """What the engine observed about a guest after create/read/update (the outputs)."""

    vmid: int
    node: str
    hostname: str
    mac: str
    ipv4: str | None
    status: str
    cores: int
    memory_mib: int
    swap_mib: int
    rootfs_gib: int
    mounts: tuple[MountSpec, ...]
    host_keys: dict[str, str]
    archive: str
    owner: str
    tags: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (ints stay ints, tuples become lists)."""
        return {
            "vmid": self.vmid,
            "node": self.node,
            "hostname": self.hostname,
            "mac": self.mac,
            "ipv4": self.ipv4,
            "status": self.status,
            "cores": self.cores,
            "memory_mib": self.memory_mib,
            "swap_mib": self.swap_mib,
            "rootfs_gib": self.rootfs_gib,
            "mounts": [m.to_dict() for m in self.mounts],
            "host_keys": dict(sorted(self.host_keys.items())),
            "archive": self.archive,
            "owner": self.owner,
            "tags": list(self.tags),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GuestState:
        """Inverse of :meth:`to_dict`; tolerates numbers that came back as floats or strings."""
        ipv4 = data.get("ipv4")
        return cls(
            vmid=int(data["vmid"]),
            node=str(data["node"]),
            hostname=str(data["hostname"]),
            mac=str(data["mac"]),
            ipv4=str(ipv4) if ipv4 else None,
            status=str(data["status"]),
            cores=int(data["cores"]),
            memory_mib=int(data["memory_mib"]),
            swap_mib=int(data["swap_mib"]),
            rootfs_gib=int(data["rootfs_gib"]),
            mounts=tuple(MountSpec.from_dict(m) for m in data.get("mounts") or ()),
            host_keys={str(k): str(v) for k, v in (data.get("host_keys") or {}).items()},
            archive=str(data["archive"]),
            owner=str(data["owner"]),
            tags=tuple(str(t) for t in data.get("tags") or ()),
        )


@dataclass(frozen=True, kw_only=True)
class GoldenSpec:
    """How to build the golden archive (the ``GoldenImage`` inputs, normalised).

    ``build_vmid`` pins the VMID of the temporary build CT (else ``/cluster/nextid``).
    ``retain`` asks the resource to keep the archive when the resource is deleted; the
    engine's ``delete`` always deletes, the resource decides whether to call it.
    """

    name: str
    owner: str
    node: str
    template: str
    hostname: str = "felhom-golden"
    rootfs_storage: str = "local-lvm"
    rootfs_gib: int = 8
    cores: int = 2
    memory_mib: int = 2048
    bridge: str = "vmbr0"
    archive_storage: str = "local"
    build_vmid: int | None = None
    retain: bool = False

    def __post_init__(self) -> None:
        _require(bool(self.name), "name", "must not be empty")
        _check_owner(self.owner)
        _require(bool(self.node), "node", "must not be empty")
        _require(":" in self.template, "template", f"must be a volid, got {self.template!r}")
        _check_hostname(self.hostname, "hostname")
        _require(bool(_STORAGE_RE.match(self.rootfs_storage or "")), "rootfsStorage", "invalid")
        _positive_int(self.rootfs_gib, "rootfsGiB")
        _positive_int(self.cores, "cores")
        _positive_int(self.memory_mib, "memory", minimum=16)
        _require(bool(_BRIDGE_RE.match(self.bridge or "")), "bridge", "invalid bridge name")
        _require(bool(_STORAGE_RE.match(self.archive_storage or "")), "archiveStorage", "invalid")
        if self.build_vmid is not None:
            _require(
                isinstance(self.build_vmid, int) and VMID_MIN <= self.build_vmid <= VMID_MAX,
                "buildVmid",
                f"must be in {VMID_MIN}..{VMID_MAX}, got {self.build_vmid!r}",
            )

    @property
    def marker(self) -> str:
        """The ownership marker line for the build CT."""
        return marker_for(self.owner)


@dataclass(frozen=True)
class GoldenState:
    """What the golden build produced and verified (the ``GoldenImage`` outputs)."""

    archive: str
    size_bytes: int
    golden_mac: str
    golden_hostname: str
    features: str
    unprivileged: bool
    docker_driver: str
    openssh_version: str
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GoldenState:
        """Inverse of :meth:`to_dict`."""
        return cls(
            archive=str(data["archive"]),
            size_bytes=int(data["size_bytes"]),
            golden_mac=str(data["golden_mac"]),
            golden_hostname=str(data["golden_hostname"]),
            features=str(data["features"]),
            unprivileged=bool(data["unprivileged"]),
            docker_driver=str(data.get("docker_driver", "")),
            openssh_version=str(data.get("openssh_version", "")),
            created_at=str(data.get("created_at", "")),
        )
