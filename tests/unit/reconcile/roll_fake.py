"""An in-memory PVE node for roll-engine unit tests, with the semantics a roll relies on.

Volumes are owned by the VMID in their name and hold files; a restore over a CT
(``force=1``) refuses a running or protected CT, allocates the new rootfs, frees every volume
of the old config it owns (``destroy_lxc_container``) and, when extraction fails, drops the
config too; ``move_volume`` renames the volume to the target VMID and rewrites both configs
in one step, refusing ``rootfs``, a running source and a taken key; vzdump archives the
rootfs files and the config (data mounts excluded); destroy refuses protection. A
``Kill`` (a ``BaseException``, like SIGKILL it skips every ``except Exception``) can be
raised before or after a chosen call takes effect.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from felhom_provider.errors import (
    AlreadyExistsError,
    NotFoundError,
    NotRunningError,
    PermanentPveError,
    TaskFailedError,
)
from felhom_provider.pve.props import Mount, parse_pct_conf

GOLDEN_NEW = "local:backup/vzdump-lxc-9200-2026_11_29-10_00_00.tar.zst"
GOLDEN_OLD = "local:backup/vzdump-lxc-9100-2026_10_01-10_00_00.tar.zst"
KEY_PATHS = tuple(
    f"/etc/ssh/ssh_host_{k}_key{s}" for k in ("rsa", "ecdsa", "ed25519") for s in ("", ".pub")
)
#: The key type each ``ssh_host_<kind>_key`` holds, as sshd offers it and ``.pub`` names it.
KEY_TYPES = {"rsa": "ssh-rsa", "ecdsa": "ecdsa-sha2-nistp256", "ed25519": "ssh-ed25519"}


def key_pair(kind: str, seed: str) -> tuple[str, str]:
    """A fake (private, public line) pair; the public blob is derived from ``seed``."""
    blob = base64.b64encode(hashlib.sha256(f"{kind} {seed}".encode()).digest()).decode()
    return f"PRIVATE {kind} {seed}\n", f"{KEY_TYPES[kind]} {blob} root@golden\n"


class Kill(BaseException):
    """The provider process died here (nothing of ours catches it)."""


def golden_conf(vmid: int) -> str:
    return (
        "arch: amd64\ncores: 2\nfeatures: keyctl=1,nesting=1\nhostname: felhom-golden\n"
        "memory: 2048\nnet0: name=eth0,bridge=vmbr0,hwaddr=BC:24:11:63:43:F4,ip=dhcp,type=veth\n"
        f"ostype: debian\nrootfs: local-lvm:vm-{vmid}-disk-0,size=8G\nswap: 512\nunprivileged: 1\n"
    )


@dataclass
class Archive:
    conf: str
    files: dict[str, str]
    notes: str | None = None
    vmid: int = 0
    docker_ok: bool = True


@dataclass
class FakeNode:
    """The PVE node (``RollApi``) plus the guests' insides (files, sshd, Docker)."""

    node: str = "pve"
    cts: dict[int, dict[str, Any]] = field(default_factory=dict)
    running: set[int] = field(default_factory=set)
    volumes: dict[str, dict[str, str]] = field(default_factory=dict)
    archives: dict[str, Archive] = field(default_factory=dict)
    calls: list[tuple[str, Any]] = field(default_factory=list)
    kill: tuple[str, int, str] | None = None  # (method, nth call, "before"|"after")
    fail_task: dict[str, int] = field(default_factory=dict)  # method -> nth call fails
    _seq: Any = field(default_factory=lambda: itertools.count(1))
    _counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.archives[GOLDEN_OLD] = Archive(golden_conf(9100), {"/etc/os-release": "old"})
        self.archives[GOLDEN_NEW] = Archive(golden_conf(9200), {"/etc/os-release": "new"})

    # --- plumbing ---------------------------------------------------------------------

    def _enter(self, name: str, arg: Any = None) -> tuple[bool, bool]:
        self.calls.append((name, arg))
        n = self._counts[name] = self._counts.get(name, 0) + 1
        kill = self.kill is not None and self.kill[:2] == (name, n)
        if kill and self.kill and self.kill[2] == "before":
            raise Kill(f"killed before {name} #{n}")
        return kill, self.fail_task.get(name) == n

    def _upid(self, kind: str, vmid: Any, fail: bool = False) -> str:
        tag = "FAIL" if fail else "OK"
        return f"UPID:{self.node}:1:1:{next(self._seq):08X}:{kind}:{vmid}:{tag}:"

    def _cfg(self, vmid: int) -> dict[str, Any]:
        if vmid not in self.cts:
            raise NotFoundError(f"Configuration file 'nodes/pve/lxc/{vmid}.conf' does not exist")
        return self.cts[vmid]

    def _alloc(self, vmid: int, storage: str) -> str:
        n = next(
            i for i in itertools.count() if f"{storage}:vm-{vmid}-disk-{i}" not in self.volumes
        )
        volid = f"{storage}:vm-{vmid}-disk-{n}"
        self.volumes[volid] = {}
        return volid

    def _free_owned(self, vmid: int, conf: Mapping[str, Any]) -> None:
        for key, value in conf.items():
            if key == "rootfs" or key.startswith(("mp", "unused")):
                volid = Mount.parse(str(value)).volume
                if f"vm-{vmid}-" in volid:
                    self.volumes.pop(volid, None)

    def rootfs_files(self, vmid: int) -> dict[str, str]:
        return self.volumes[Mount.parse(self.cts[vmid]["rootfs"]).volume]

    def mount_files(self, vmid: int, key: str) -> dict[str, str]:
        return self.volumes[Mount.parse(self.cts[vmid][key]).volume]

    def done(self, kill: bool, upid: str) -> str:
        if kill:
            raise Kill(f"killed after {upid}")
        return upid

    # --- reads ------------------------------------------------------------------------

    def list_lxc(self) -> list[dict[str, Any]]:
        self.calls.append(("list_lxc", None))
        return [
            {"vmid": v, "tags": c.get("tags", ""), "lock": c.get("lock")}
            for v, c in self.cts.items()
        ]

    def get_config(self, vmid: int, *, current: bool = False) -> dict[str, Any]:
        return dict(self._cfg(vmid))

    def status(self, vmid: int) -> dict[str, Any]:
        self._cfg(vmid)
        return {"status": "running" if vmid in self.running else "stopped"}

    def interfaces(self, vmid: int) -> list[dict[str, Any]] | None:
        if vmid not in self.running:
            return None
        mac = self.cts[vmid]["net0"].split("hwaddr=")[1][:17]
        last = int(hashlib.sha256(mac.encode()).hexdigest()[:2], 16)
        return [{"name": "eth0", "hwaddr": mac.lower(), "inet": f"127.77.0.{last}/16"}]

    def extractconfig(self, volid: str) -> str:
        return self.archives[volid].conf

    def storage_content(
        self, storage: str, content: str | None = None, vmid: int | None = None
    ) -> list[dict[str, Any]]:
        return [
            {"volid": v, "notes": (a.notes or "").split("\n")[0], "ctime": 0}
            for v, a in self.archives.items()
            if v.startswith(storage + ":") and (vmid is None or a.vmid == vmid)
        ]

    def find_task(self, type: str, vmid: int | None, since: float) -> None:
        return None

    def recover_dispatch(self, err: Any, *, slack_s: float = 2.0) -> None:
        return None

    def wait_task(self, upid: str, timeout_s: float, on_progress: Any = None) -> Any:
        if ":FAIL:" in upid:
            raise TaskFailedError("task failed", upid=upid, exitstatus="task failed")
        return type("R", (), {"exitstatus": "OK"})()

    def task_log(self, upid: Any, start: int = 0, limit: int = 50) -> list[dict[str, Any]]:
        return [{"n": 1, "t": "TASK OK"}]

    def in_pool(self, pool: str, vmid: int) -> bool:
        return False

    def set_pool(self, pool: str, vmid: int) -> None:
        raise AssertionError("a roll never moves a guest between pools")

    def next_vmid(self, hint: int | None = None) -> int:
        return next(i for i in itertools.count(200) if i not in self.cts)

    def preflight(self, required: Mapping[str, Any]) -> None:
        return None

    # --- config and power -------------------------------------------------------------

    def put_config(self, vmid: int, params: Mapping[str, Any] | None = None, delete: Any = (),
                   digest: str | None = None, **options: Any) -> None:  # fmt: skip
        kill, _ = self._enter("put_config", (vmid, {**(params or {}), **options}))
        self._cfg(vmid).update({k: str(v) for k, v in {**(params or {}), **options}.items()})
        if kill:
            raise Kill("killed after put_config")

    def start(self, vmid: int) -> str:
        kill, fail = self._enter("start", vmid)
        self._cfg(vmid)
        if not fail:
            self.running.add(vmid)
            files = self.rootfs_files(vmid)
            if "/etc/ssh/ssh_host_ed25519_key" not in files:  # the baked keygen unit
                seed = f"boot {next(self._seq)}"
                for kind in KEY_TYPES:
                    private, public = key_pair(kind, seed)
                    files[f"/etc/ssh/ssh_host_{kind}_key"] = private
                    files[f"/etc/ssh/ssh_host_{kind}_key.pub"] = public
        return self.done(kill, self._upid("vzstart", vmid, fail))

    def stop(self, vmid: int) -> str:
        kill, _ = self._enter("stop", vmid)
        if vmid not in self.running:
            raise NotRunningError(f"CT {vmid} not running")  # as the classifier answers it
        self.running.discard(vmid)
        return self.done(kill, self._upid("vzstop", vmid))

    def shutdown(self, vmid: int, timeout: int = 60, *, force_stop: bool = False) -> str:
        kill, _ = self._enter("shutdown", vmid)
        self.running.discard(vmid)
        return self.done(kill, self._upid("vzshutdown", vmid))

    def resize(self, vmid: int, disk: str, size: str) -> str:
        raise AssertionError("a roll never resizes")

    def destroy(self, vmid: int, *, purge: bool = True, destroy_unreferenced_disks: bool = True,
                force: bool = False) -> str:  # fmt: skip
        kill, _ = self._enter("destroy", vmid)
        conf = self._cfg(vmid)
        if conf.get("protection") == "1":
            raise PermanentPveError(f"can't remove CT {vmid} - protection mode enabled")
        if vmid in self.running:
            raise PermanentPveError(f"unable to destroy CT {vmid} - container is running")
        self._free_owned(vmid, conf)
        if destroy_unreferenced_disks:
            for volid in [v for v in self.volumes if f"vm-{vmid}-" in v]:
                del self.volumes[volid]
        del self.cts[vmid]
        return self.done(kill, self._upid("vzdestroy", vmid))

    # --- restore, move, backup --------------------------------------------------------

    def _restore(self, vmid: int, archive: str, overrides: Mapping[str, Any], force: bool) -> str:
        kill, fail = self._enter("restore", (vmid, archive))
        old = self.cts.get(vmid)
        if old is not None and not force:
            raise AlreadyExistsError(f"CT {vmid} already exists on node 'pve'")
        if old is not None and vmid in self.running:
            raise PermanentPveError("can't overwrite running container")
        if old is not None and old.get("protection") == "1":
            raise PermanentPveError(f"unable to restore CT {vmid} - protection mode enabled")
        src = self.archives[archive]
        storage, _, size = str(overrides["rootfs"]).partition(",")[0].partition(":")
        rootfs = self._alloc(vmid, storage)
        if old is not None:
            self._free_owned(vmid, old)  # destroy_lxc_container on the old config
        if fail or not src.files.get("/etc/os-release"):
            self.volumes.pop(rootfs, None)
            self.cts.pop(vmid, None)  # destroy_config_on_error
            return self.done(kill, self._upid("vzrestore", vmid, True))
        self.volumes[rootfs] = dict(src.files)
        dropped = ("rootfs", "digest", "lock")
        conf = {k: v for k, v in parse_pct_conf(src.conf).items()
                if not (k.startswith(("mp", "unused")) or k in dropped)}  # fmt: skip
        conf.update({k: str(v) for k, v in overrides.items() if k != "rootfs"})
        if "hwaddr" not in conf["net0"]:
            conf["net0"] += f",hwaddr=BC:24:11:00:{vmid // 256:02X}:{vmid % 256:02X}"
        conf["rootfs"] = f"{rootfs},size={size}G"
        self.cts[vmid] = conf
        return self.done(kill, self._upid("vzrestore", vmid))

    def restore_lxc(self, vmid: int, archive: str, overrides: Mapping[str, Any]) -> str:
        return self._restore(vmid, archive, overrides, force=False)

    def restore_over(self, vmid: int, archive: str, overrides: Mapping[str, Any]) -> str:
        return self._restore(vmid, archive, overrides, force=True)

    def move_volume_to(self, vmid: int, volume: str, target_vmid: int,
                       target_volume: str | None = None, **extra: Any) -> str:  # fmt: skip
        kill, _ = self._enter("move_volume", (vmid, volume, target_vmid))
        key = target_volume or volume
        src, dst = self._cfg(vmid), self._cfg(target_vmid)
        if "rootfs" in (volume, key):
            raise PermanentPveError("Cannot move to/from 'rootfs'")
        if vmid in self.running:
            raise PermanentPveError("Cannot move in-use volume while the source CT is running")
        if key in dst:
            raise PermanentPveError(f"Target volume key '{key}' is already in use")
        mount = Mount.parse(src[volume])
        storage = mount.volume.split(":")[0]
        new = self._alloc(target_vmid, storage)
        self.volumes[new] = self.volumes.pop(mount.volume)  # rename: the same data
        dst[key] = src.pop(volume).replace(mount.volume, new)
        return self.done(kill, self._upid("move_volume", f"{vmid}-{volume}>{target_vmid}-{key}"))

    def vzdump(self, vmid: int, storage: str, mode: str = "stop", compress: str = "zstd", *,
               notes: str | None = None, protected: bool = False) -> str:  # fmt: skip
        # A roll's own backup of the old root filesystem is temporary: never protected.
        assert not protected, "a roll's backup of the old root filesystem is never protected"
        kill, _ = self._enter("vzdump", vmid)
        conf = self._cfg(vmid)
        volid = f"{storage}:backup/vzdump-lxc-{vmid}-{next(self._seq):06d}.tar.zst"
        text = "".join(f"#{line}\n" for line in str(conf.get("description", "")).splitlines())
        text += "".join(f"{k}: {v}\n" for k, v in sorted(conf.items()) if k != "description")
        self.archives[volid] = Archive(text, dict(self.rootfs_files(vmid)), notes, vmid)
        return self.done(kill, self._upid("vzdump", vmid))

    def set_volume_protected(self, storage: str, volid: str, protected: bool) -> None:
        if volid not in self.archives:
            raise NotFoundError(f"volume {volid} does not exist")
        raise AssertionError("a roll never changes an archive's protection")

    def delete_volume(self, storage: str, volid: str) -> str | None:
        kill, _ = self._enter("delete_volume", volid)
        if volid not in self.archives:
            raise NotFoundError(f"volume {volid} does not exist")
        del self.archives[volid]
        if kill:
            raise Kill("killed after delete_volume")
        return None

    # --- the guests' insides -------------------------------------------------------------

    def probe(self, host: str, port: int, timeout: float) -> dict[str, str]:
        """The handshake: ``{type: "<type> <base64>"}`` of the keys sshd presents."""
        for vmid in self.running:
            ip = str((self.interfaces(vmid) or [{}])[0].get("inet", "")).split("/")[0]
            if ip == host:
                return public_keys(self.rootfs_files(vmid))
        raise OSError("connection refused")


def public_keys(files: Mapping[str, str]) -> dict[str, str]:
    """The ``.pub`` lines of a root filesystem's host keys, by type (comments dropped)."""
    lines = (files[p].split() for p in KEY_PATHS if p.endswith(".pub") and p in files)
    return {parts[0]: f"{parts[0]} {parts[1]}" for parts in lines}


@dataclass
class FakeNodeShell:
    """``pct exec`` into the fake node's guests: ``cat``, ``install``, ``systemctl``, Docker."""

    pve: FakeNode
    execs: list[tuple[int, list[str]]] = field(default_factory=list)

    def exec(self, vmid: int, argv: Any, stdin: bytes | str | None = None,
             timeout: float = 600.0) -> Any:  # fmt: skip
        argv = list(argv)
        self.execs.append((vmid, argv))
        out, err, code = "", "", 0
        if vmid not in self.pve.running:
            out, err, code = "", f"container '{vmid}' not running!", 255
        elif argv[0] == "cat":
            files = self.pve.rootfs_files(vmid)
            out, code = (files[argv[1]], 0) if argv[1] in files else ("", 1)
        elif argv[:2] == ["sh", "-c"] and "ssh_host_" in argv[2]:
            pubs = public_keys(self.pve.rootfs_files(vmid))
            out, code = ("".join(f"{line} root@guest\n" for line in pubs.values()), 0)
        elif argv[0] == "install":
            self.pve.rootfs_files(vmid)[argv[-1]] = str(stdin)
        elif argv[:2] == ["docker", "run"]:
            ok = self.pve.rootfs_files(vmid).get("/etc/os-release") != "broken-docker"
            out, err, code = ("Hello from Docker!\n", "", 0) if ok else ("", "keyctl denied", 125)
        return type("R", (), {"exit_code": code, "stdout": out, "stderr": err})()

    def run(self, argv: Any, stdin: bytes | str | None = None, timeout: float = 600.0) -> Any:
        raise AssertionError("a roll runs nothing on the node itself")
