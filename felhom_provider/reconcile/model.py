"""Typed inputs and outputs of the bring-up engine: guest and golden-image specs and states.

Specs are what a resource asks for (validated here, so bad input fails at preview with a
message naming the field); states are what the engine observed and publishes. States
round-trip through JSON-safe dicts (ints stay ints) because they travel in Pulumi state.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from felhom_provider.errors import ConfigError
from felhom_provider.spec.field import Table
from felhom_provider.spec.golden import GOLDEN, RESERVED_FIRST, RESERVED_LAST
from felhom_provider.spec.guest import GUEST

#: Prefix of the ownership marker written into a guest's description (design §2.10).
MARKER_PREFIX = "felhom-owner="
#: Tag every guest made by this engine carries (PVE tags: ``[a-z0-9_][a-z0-9_\-+.]*``).
FELHOM_TAG = "felhom"


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


@dataclass(frozen=True)
class MountSpec:
    """A data volume: ``mpN=<storage>:<size_gib>,mp=<path>`` (validated by the field table)."""

    storage: str
    size_gib: int
    path: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form, keyed as the stack config and the outputs name them."""
        return {"storage": self.storage, "sizeGiB": self.size_gib, "path": self.path}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MountSpec:
        """Inverse of :meth:`to_dict`."""
        return cls(str(data["storage"]), int(data["sizeGiB"]), str(data["path"]))


def _attrs_from(table: Table, props: Mapping[str, Any]) -> dict[str, Any]:
    """``{attr: value}`` for every field set in ``props`` (lists become tuples, wire floats
    become ints through the field's own validator)."""
    values: dict[str, Any] = {}
    for fld in table.fields:
        raw = props.get(fld.key)
        if raw is None:
            continue
        try:
            value = fld.validate(raw)
        except ValueError as exc:
            # A FieldError's text is its reason; its path extends the key (``network.gw``).
            raise ConfigError(fld.key + getattr(exc, "path", ""), str(exc)) from None
        values[fld.attr] = tuple(value) if isinstance(value, list) else value
    return values


@dataclass(frozen=True, kw_only=True)
class GuestSpec:
    """What one customer guest should be: the ``FelhomGuest`` inputs, one attribute per
    field of ``spec.guest.GUEST`` (the key in snake_case; ``import`` is ``import_``)."""

    name: str
    owner: str
    node: str
    archive: str
    hostname: str
    cores: int = 1
    memory: int = 1024
    swap: int = 512
    cpulimit: float = 0
    cpuunits: int = 100
    rootfs_storage: str = "local-lvm"
    rootfs_gib: int = 8
    mounts: tuple[MountSpec, ...] = ()
    bridge: str = "vmbr0"
    network: Mapping[str, Any] = field(default_factory=lambda: {"ip": "dhcp"})
    nameserver: tuple[str, ...] = ()
    searchdomain: str | None = None
    vmid: int | None = None
    tags: tuple[str, ...] = ()
    onboot: bool = True
    startup: Mapping[str, int] | None = None
    pool: str | None = None
    protection: bool = False
    ssh_authorized_keys: tuple[str, ...] = ()
    operator_ssh_authorized_keys: tuple[str, ...] = ()
    host_key_check: str = "handshake"
    restarts: str = "immediate"
    import_: int | None = None

    @classmethod
    def from_inputs(cls, props: Mapping[str, Any]) -> GuestSpec:
        """The spec from checked inputs, walking the field table (ConfigError names a bad
        field: the table's validators are the one place the rules live)."""
        values = _attrs_from(GUEST, props)
        values.setdefault("hostname", values.get("name"))
        values["mounts"] = tuple(MountSpec.from_dict(m) for m in values.get("mounts", ()))
        return cls(**values)

    @property
    def marker(self) -> str:
        """The ownership marker line for this guest."""
        return marker_for(self.owner)

    @property
    def static_ipv4(self) -> str | None:
        """The static IPv4 address (no prefix), or None for DHCP."""
        ip = str(self.network.get("ip", "dhcp"))
        return None if ip == "dhcp" else ip.split("/", 1)[0]

    @property
    def authorized_keys(self) -> tuple[str, ...]:
        """Operator keys first, then the customer's, each once."""
        return tuple(dict.fromkeys((*self.operator_ssh_authorized_keys, *self.ssh_authorized_keys)))


@dataclass(frozen=True, kw_only=True)
class GuestState:
    """What the engine observed about a guest after create/read/update (the outputs).

    ``settings`` holds the other observed field-table values by key (``onboot``,
    ``startup``, ``network``, ``nameserver``, ...). ``host_public_keys`` are the full key
    lines (``ssh-ed25519 AAAA…``) and ``host_keys`` their fingerprints; when a refresh could
    not re-check them, the last verified keys are kept and ``host_keys_verified`` is False.
    ``pending_restart`` names fields changed in PVE that reach the guest at its next start;
    ``rootfs_rebuilt_at`` is when a golden roll last rebuilt its root filesystem (or None).
    """

    vmid: int
    node: str
    hostname: str
    mac: str
    ipv4: str | None
    status: str
    cores: int
    memory: int
    swap: int
    rootfs_gib: int
    mounts: tuple[MountSpec, ...]
    host_keys: dict[str, str]
    archive: str
    owner: str
    tags: tuple[str, ...]
    settings: dict[str, Any] = field(default_factory=dict)
    host_public_keys: dict[str, str] = field(default_factory=dict)
    host_keys_verified: bool = True
    pending_restart: tuple[str, ...] = ()
    ssh_port: int = 22
    rootfs_rebuilt_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (ints stay ints, tuples become lists)."""
        data = asdict(self)
        data["mounts"] = [m.to_dict() for m in self.mounts]
        data["tags"] = list(self.tags)
        data["pending_restart"] = list(self.pending_restart)
        data["host_keys"] = dict(sorted(self.host_keys.items()))
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GuestState:
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
            memory=int(data["memory"]),
            swap=int(data["swap"]),
            rootfs_gib=int(data["rootfs_gib"]),
            mounts=tuple(MountSpec.from_dict(m) for m in data.get("mounts") or ()),
            host_keys={str(k): str(v) for k, v in (data.get("host_keys") or {}).items()},
            archive=str(data["archive"]),
            owner=str(data["owner"]),
            tags=tuple(str(t) for t in data.get("tags") or ()),
            settings=dict(data.get("settings") or {}),
            host_public_keys={
                str(k): str(v) for k, v in (data.get("host_public_keys") or {}).items()
            },
            host_keys_verified=bool(data.get("host_keys_verified", True)),
            pending_restart=tuple(str(k) for k in data.get("pending_restart") or ()),
            ssh_port=int(data.get("ssh_port", 22)),
            rootfs_rebuilt_at=str(data["rootfs_rebuilt_at"])
            if data.get("rootfs_rebuilt_at")
            else None,
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
    memory: int = 2048
    bridge: str = "vmbr0"
    archive_storage: str = "local"
    reserved_vmids: Mapping[str, int] = field(
        default_factory=lambda: {"first": RESERVED_FIRST, "last": RESERVED_LAST}
    )
    build_vmid: int | None = None
    retain: bool = False
    revision: int = 1

    def __post_init__(self) -> None:
        if self.build_vmid is not None and not self.reserved(self.build_vmid):
            raise ConfigError(
                "buildVmid",
                f"{self.build_vmid} is outside reservedVmids "
                f"{self.reserved_vmids['first']}..{self.reserved_vmids['last']}",
            )

    def reserved(self, vmid: int) -> bool:
        """True when ``vmid`` lies in the build CTs' reserved range."""
        return int(self.reserved_vmids["first"]) <= vmid <= int(self.reserved_vmids["last"])

    @classmethod
    def from_inputs(cls, props: Mapping[str, Any]) -> GoldenSpec:
        """The spec from checked inputs, walking the field table."""
        return cls(**_attrs_from(GOLDEN, props))

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
