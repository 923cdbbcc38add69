"""The parameters each simulated endpoint accepts, written out by hand.

These declarations are the simulator's own; ``tests/sim/test_schema_conformance.py``
checks them against PVE 9's apidata extract (vendored with the tests) so a
parameter the simulator accepts always exists in PVE with the same type and format. A PVE
parameter the simulator does not declare is answered with 400 naming it, never ignored.

Indexed families are declared once as ``net[n]`` / ``mp[n]`` / ``unused[n]`` / ``dev[n]``
with a ``max_index`` (PVE: net0..net31, mp0..mp255, unused0..unused255, dev0..dev255).
"""

from __future__ import annotations

from typing import Any

Spec = dict[str, Any]


def _opt(type_: str, **kw: Any) -> Spec:
    return {"type": type_, "optional": 1, **kw}


def _bool() -> Spec:
    return _opt("boolean")


VMID: Spec = {"type": "integer", "format": "pve-vmid", "minimum": 100, "maximum": 999999999}
NODE: Spec = {"type": "string", "format": "pve-node"}
STORAGE_ID: Spec = {"type": "string", "format": "pve-storage-id"}

_MOUNTOPT_WORD = r"(discard|lazytime|noatime|nodev|noexec|nosuid)"
_MOUNTOPT = rf"{_MOUNTOPT_WORD}(;{_MOUNTOPT_WORD})*"

# Sub-formats of the property-string parameters (Config.pm $rootfs_desc/$mp_desc/$netconf_desc).
ROOTFS_FORMAT: dict[str, Spec] = {
    "volume": {"type": "string", "format": "pve-lxc-mp-string", "default_key": 1},
    "size": _opt("string", format="disk-size"),
    "acl": _bool(),
    "mountoptions": _opt("string", pattern=_MOUNTOPT),
    "quota": _bool(),
    "replicate": _opt("boolean", default=1),
    "ro": _bool(),
    "shared": _opt("boolean", default=0),
}
MP_FORMAT: dict[str, Spec] = {
    **ROOTFS_FORMAT,
    "mp": {"type": "string", "format": "pve-lxc-mp-string"},
    "backup": _bool(),
    "keepattrs": _opt("boolean", default=0),
}
NET_FORMAT: dict[str, Spec] = {
    "name": {"type": "string", "pattern": r"[-_.\w\d]+"},
    "bridge": _opt("string", pattern=r"[-_.\w\d]+"),
    "hwaddr": _opt("string", format="mac-addr"),
    "mtu": _opt("integer", minimum=64, maximum=65535),
    "ip": _opt("string", format="pve-ipv4-config"),
    "gw": _opt("string", format="ipv4"),
    "ip6": _opt("string", format="pve-ipv6-config"),
    "gw6": _opt("string", format="ipv6"),
    "firewall": _bool(),
    "tag": _opt("integer", minimum=1, maximum=4094),
    "trunks": _opt("string", pattern=r"\d+(?:;\d+)*"),
    "rate": _opt("number"),
    "link_down": _bool(),
    "host-managed": _bool(),
    "type": _opt("string", enum=["veth"]),
}
FEATURES_FORMAT: dict[str, Spec] = {
    "nesting": _opt("boolean", default=0),
    "keyctl": _opt("boolean", default=0),
    "fuse": _opt("boolean", default=0),
    "mknod": _opt("boolean", default=0),
    "force_rw_sys": _opt("boolean", default=0),
    "mount": _opt("string", pattern=r"[a-zA-Z0-9_; ]+"),
}
DEV_FORMAT: dict[str, Spec] = {
    "path": _opt("string", format="pve-lxc-dev-string", default_key=1),
    "mode": _opt("string", pattern=r"0[0-7]{3}"),
    "uid": _opt("integer", minimum=0),
    "gid": _opt("integer", minimum=0),
    "deny-write": _opt("boolean", default=0),
}
UNUSED_FORMAT: dict[str, Spec] = {
    "volume": {"type": "string", "format": "pve-volume-id", "default_key": 1},
}

_OSTYPES = [
    "debian",
    "devuan",
    "ubuntu",
    "centos",
    "fedora",
    "opensuse",
    "archlinux",
    "alpine",
    "gentoo",
    "nixos",
    "unmanaged",
]
LOCKS = [
    "backup",
    "create",
    "destroyed",
    "disk",
    "fstrim",
    "migrate",
    "mounted",
    "rollback",
    "snapshot",
    "snapshot-delete",
]

# Every pct.conf key the API accepts (Config.pm json_config_properties).
CONFIG_KEYS: dict[str, Spec] = {
    "arch": _opt(
        "string", enum=["amd64", "i386", "arm64", "armhf", "riscv32", "riscv64"], default="amd64"
    ),
    "cmode": _opt("string", enum=["shell", "console", "tty"], default="tty"),
    "console": _opt("boolean", default=1),
    "cores": _opt("integer", minimum=1, maximum=8192),
    "cpulimit": _opt("number", minimum=0, maximum=8192, default=0),
    "cpuunits": _opt("integer", minimum=0, maximum=500000),
    "debug": _opt("boolean", default=0),
    "description": _opt("string", maxLength=8192),
    "dev[n]": _opt("string", format=DEV_FORMAT, max_index=256),
    "entrypoint": _opt("string", pattern=r"[^\x00-\x08\x10-\x1F\x7F]+"),
    "env": _opt("string"),
    "features": _opt("string", format=FEATURES_FORMAT),
    "hookscript": _opt("string", format="pve-volume-id"),
    "hostname": _opt("string", format="dns-name", maxLength=255),
    "lock": _opt("string", enum=LOCKS),
    "memory": _opt("integer", minimum=16, default=512),
    "mp[n]": _opt("string", format=MP_FORMAT, max_index=256),
    "nameserver": _opt("string", format="lxc-ip-with-ll-iface-list"),
    "net[n]": _opt("string", format=NET_FORMAT, max_index=32),
    "onboot": _opt("boolean", default=0),
    "ostype": _opt("string", enum=_OSTYPES),
    "protection": _opt("boolean", default=0),
    "rootfs": _opt("string", format=ROOTFS_FORMAT),
    "searchdomain": _opt("string", format="dns-name-list"),
    "startup": _opt("string", format="pve-startup-order"),
    "swap": _opt("integer", minimum=0, default=512),
    "tags": _opt("string", format="pve-tag-list"),
    "template": _opt("boolean", default=0),
    "timezone": _opt("string", format="pve-ct-timezone"),
    "tty": _opt("integer", minimum=0, maximum=6, default=2),
    "unprivileged": _opt("boolean", default=0),
    "unused[n]": _opt("string", format=UNUSED_FORMAT, max_index=256),
}

_CT: dict[str, Spec] = {"node": NODE, "vmid": VMID}

LXC_CREATE: dict[str, Spec] = {
    **CONFIG_KEYS,
    **_CT,
    "ostemplate": {"type": "string", "maxLength": 255},
    "password": _opt("string", minLength=5),
    "storage": _opt("string", format="pve-storage-id", default="local"),
    "force": _bool(),
    "restore": _bool(),
    "unique": _opt("boolean", requires="restore"),
    "pool": _opt("string", format="pve-poolid"),
    "ignore-unpack-errors": _bool(),
    "ssh-public-keys": _opt("string"),
    "bwlimit": _opt("number", minimum=0),
    "start": _opt("boolean", default=0),
    "ha-managed": _opt("boolean", default=0),
}
LXC_SET_CONFIG: dict[str, Spec] = {
    **CONFIG_KEYS,
    **_CT,
    "delete": _opt("string", format="pve-configid-list"),
    "revert": _opt("string", format="pve-configid-list"),
    "digest": _opt("string", maxLength=40),
}
_MP_ENUM = ["rootfs"] + [f"mp{i}" for i in range(256)]
LXC_RESIZE: dict[str, Spec] = {
    **_CT,
    "disk": {"type": "string", "enum": _MP_ENUM},
    "size": {"type": "string", "pattern": r"\+?\d+(\.\d+)?[KMGT]?"},
    "digest": _opt("string", maxLength=40),
}

_VOLUME_KEYS = _MP_ENUM + [f"unused{i}" for i in range(256)]
LXC_MOVE_VOLUME: dict[str, Spec] = {
    **_CT,
    "volume": {"type": "string", "enum": _VOLUME_KEYS},
    "target-vmid": {**VMID, "optional": 1},
    "target-volume": _opt("string", enum=_VOLUME_KEYS),
    "target-digest": _opt("string", maxLength=40),
    "storage": _opt("string", format="pve-storage-id"),
    "delete": _opt("boolean", default=0),
    "digest": _opt("string", maxLength=40),
}

# (method, path template) -> accepted parameters (path parameters included, as PVE does).
ENDPOINT_PARAMS: dict[tuple[str, str], dict[str, Spec]] = {
    ("GET", "/version"): {},
    ("GET", "/nodes"): {},
    ("GET", "/cluster/nextid"): {"vmid": {**VMID, "optional": 1}},
    ("GET", "/access/permissions"): {
        "path": _opt("string"),
        "userid": _opt(
            "string", pattern=r"^[^\s:/]+@[A-Za-z][A-Za-z0-9.\-_]+(?:![A-Za-z][A-Za-z0-9.\-_]+)?$"
        ),
    },
    ("GET", "/nodes/{node}/lxc"): {"node": NODE},
    ("POST", "/nodes/{node}/lxc"): LXC_CREATE,
    ("DELETE", "/nodes/{node}/lxc/{vmid}"): {
        **_CT,
        "purge": _opt("boolean", default=0),
        "destroy-unreferenced-disks": _bool(),
        "force": _opt("boolean", default=0),
    },
    ("GET", "/nodes/{node}/lxc/{vmid}/config"): {
        **_CT,
        "current": _opt("boolean", default=0),
        "snapshot": _opt("string", format="pve-configid", maxLength=40),
    },
    ("PUT", "/nodes/{node}/lxc/{vmid}/config"): LXC_SET_CONFIG,
    ("GET", "/nodes/{node}/lxc/{vmid}/pending"): _CT,
    ("PUT", "/nodes/{node}/lxc/{vmid}/resize"): LXC_RESIZE,
    ("POST", "/nodes/{node}/lxc/{vmid}/move_volume"): LXC_MOVE_VOLUME,
    ("POST", "/nodes/{node}/lxc/{vmid}/status/start"): {
        **_CT,
        "skiplock": _bool(),
        "debug": _opt("boolean", default=0),
    },
    ("POST", "/nodes/{node}/lxc/{vmid}/status/stop"): {
        **_CT,
        "skiplock": _bool(),
        "overrule-shutdown": _opt("boolean", default=0),
    },
    ("POST", "/nodes/{node}/lxc/{vmid}/status/shutdown"): {
        **_CT,
        "timeout": _opt("integer", minimum=0, default=60),
        "forceStop": _opt("boolean", default=0),
    },
    ("GET", "/nodes/{node}/lxc/{vmid}/status/current"): _CT,
    ("GET", "/nodes/{node}/lxc/{vmid}/interfaces"): _CT,
    ("POST", "/nodes/{node}/lxc/{vmid}/template"): _CT,
    ("GET", "/nodes/{node}/tasks/{upid}/status"): {"node": NODE, "upid": {"type": "string"}},
    ("GET", "/nodes/{node}/tasks/{upid}/log"): {
        "node": NODE,
        "upid": {"type": "string"},
        "start": _opt("integer", minimum=0, default=0),
        "limit": _opt("integer", minimum=0, default=50),
        "download": _bool(),
    },
    ("POST", "/nodes/{node}/vzdump"): {
        "node": {**NODE, "optional": 1},
        "vmid": _opt("string", format="pve-vmid-list"),
        "storage": _opt("string", format="pve-storage-id"),
        "mode": _opt("string", enum=["snapshot", "suspend", "stop"], default="snapshot"),
        "compress": _opt("string", enum=["0", "1", "gzip", "lzo", "zstd"], default="0"),
        "zstd": _opt("integer", default=1),
        "remove": _opt("boolean", default=1),
        "notes-template": _opt("string", maxLength=1024, requires="storage"),
        "protected": _opt("boolean", requires="storage"),
        "stdexcludes": _opt("boolean", default=1),
        "lockwait": _opt("integer", minimum=0, default=180),
        "stopwait": _opt("integer", minimum=0, default=10),
        "quiet": _opt("boolean", default=0),
    },
    ("GET", "/nodes/{node}/vzdump/extractconfig"): {"node": NODE, "volume": {"type": "string"}},
    ("GET", "/nodes/{node}/storage/{storage}/content"): {
        "node": NODE,
        "storage": STORAGE_ID,
        "content": _opt("string", format="pve-storage-content"),
        "vmid": {**VMID, "optional": 1},
    },
    ("PUT", "/nodes/{node}/storage/{storage}/content/{volume}"): {
        "node": NODE,
        "storage": {**STORAGE_ID, "optional": 1},
        "volume": {"type": "string"},
        "notes": _opt("string"),
        "protected": _bool(),
    },
}

_POOLID: Spec = {"type": "string", "format": "pve-poolid"}
_POOL_UPDATE: dict[str, Spec] = {
    "poolid": _POOLID,
    "comment": _opt("string"),
    "vms": _opt("string", format="pve-vmid-list"),
    "storage": _opt("string", format="pve-storage-id-list"),
    "allow-move": _opt("boolean", default=0),
    "delete": _opt("boolean", default=0),
}
ENDPOINT_PARAMS.update(
    {
        ("GET", "/pools"): {
            "poolid": {**_POOLID, "optional": 1},
            "type": _opt("string", enum=["qemu", "lxc", "storage"], requires="poolid"),
        },
        ("POST", "/pools"): {"poolid": _POOLID, "comment": _opt("string")},
        ("PUT", "/pools"): _POOL_UPDATE,
        ("DELETE", "/pools"): {"poolid": _POOLID},
        ("GET", "/pools/{poolid}"): {
            "poolid": _POOLID,
            "type": _opt("string", enum=["qemu", "lxc", "storage"]),
        },
        ("PUT", "/pools/{poolid}"): _POOL_UPDATE,
        ("DELETE", "/pools/{poolid}"): {"poolid": _POOLID},
    }
)

# Endpoints the simulator serves that the schema extract does not cover; their parameters
# follow PVE's documentation and are checked by hand, not against the extract.
OUTSIDE_SUBSET: dict[tuple[str, str], dict[str, Spec]] = {
    ("POST", "/access/ticket"): {
        "username": {"type": "string", "maxLength": 64},
        "password": {"type": "string"},
        "realm": _opt("string"),
        "otp": _opt("string"),
        "new-format": _bool(),
    },
    ("GET", "/nodes/{node}/tasks"): {
        "node": NODE,
        "start": _opt("integer", minimum=0, default=0),
        "limit": _opt("integer", minimum=0, default=50),
        "vmid": {**VMID, "optional": 1},
        "typefilter": _opt("string"),
        "userfilter": _opt("string"),
        "source": _opt("string", enum=["archive", "active", "all"], default="archive"),
        "errors": _opt("boolean", default=0),
    },
    ("GET", "/nodes/{node}/storage"): {
        "node": NODE,
        "content": _opt("string", format="pve-storage-content"),
    },
    ("DELETE", "/nodes/{node}/storage/{storage}/content/{volume}"): {
        "node": NODE,
        "storage": {**STORAGE_ID, "optional": 1},
        "volume": {"type": "string"},
        "delay": _opt("integer", minimum=1, maximum=30),
    },
}


def endpoint_spec(method: str, path: str) -> dict[str, Spec]:
    """The parameters ``method path`` accepts, from either table.

    Looked up by key, not by truthiness: endpoints such as ``GET /version`` accept no
    parameters, and their empty dict is a valid answer, not a miss.
    """
    key = (method, path)
    if key in ENDPOINT_PARAMS:
        return ENDPOINT_PARAMS[key]
    if key in OUTSIDE_SUBSET:
        return OUTSIDE_SUBSET[key]
    raise KeyError(f"no parameters declared for {method} {path}")


# PVE parameters the simulator knowingly does not implement: 400 naming the parameter.
NOT_IMPLEMENTED_MESSAGE = "parameter is valid in PVE but not implemented by the simulator"
