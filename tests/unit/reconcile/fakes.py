"""An in-memory stand-in for the PVE client with scripted faults, for engine unit tests.

It implements only what the engine calls, with PVE's rules that matter here: restore
merges overrides over the archive config and fills a fresh MAC, tasks end OK unless a
fault says otherwise, destroy refuses a running CT, and every call is logged.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from felhom_provider.errors import (
    AlreadyExistsError,
    ConnectionLostError,
    NotFoundError,
    NotRunningError,
    PermanentPveError,
    PermissionDeniedError,
    TaskFailedError,
)

GOLDEN_MAC = "BC:24:11:63:43:F4"
GOLDEN_CONF = (
    "arch: amd64\ncores: 2\nfeatures: keyctl=1,nesting=1\nhostname: felhom-golden\n"
    f"memory: 2048\nnet0: name=eth0,bridge=vmbr0,hwaddr={GOLDEN_MAC},ip=dhcp,type=veth\n"
    "ostype: debian\nrootfs: local-lvm:vm-9100-disk-0,size=8G\nswap: 512\nunprivileged: 1\n"
)


@dataclass
class Task:
    upid: str
    kind: str
    vmid: int
    fail: str | None = None


@dataclass
class Result:
    exitstatus: str = "OK"


@dataclass
class FakePve:
    """Scripted PVE: ``faults`` maps a call name to a list of exceptions/markers to use once."""

    node: str = "pve"
    archive_conf: str = GOLDEN_CONF
    cts: dict[int, dict[str, Any]] = field(default_factory=dict)
    running: set[int] = field(default_factory=set)
    tasks: dict[str, Task] = field(default_factory=dict)
    calls: list[tuple[str, Any]] = field(default_factory=list)
    faults: dict[str, list[Any]] = field(default_factory=dict)
    leases: bool = True
    steal_next: bool = False
    pools: dict[str, set[int]] = field(default_factory=dict)
    _n: Any = field(default_factory=lambda: itertools.count(1))
    _mac: Any = field(default_factory=lambda: itertools.count(0x10))

    def _fault(self, name: str) -> Any:
        queue = self.faults.get(name) or []
        return queue.pop(0) if queue else None

    def _task(self, kind: str, vmid: int, fail: str | None = None) -> str:
        upid = f"UPID:{self.node}:0000:0000:{next(self._n):08X}:{kind}:{vmid}:t@pve!x:"
        self.tasks[upid] = Task(upid, kind, vmid, fail)
        return upid

    def _cfg(self, vmid: int) -> dict[str, Any]:
        if vmid not in self.cts:
            raise NotFoundError(f"Configuration file 'nodes/pve/lxc/{vmid}.conf' does not exist")
        return self.cts[vmid]

    # --- the PveApi surface -----------------------------------------------------------
    missing: list[str] = field(default_factory=list)

    def preflight(self, required: Mapping[str, Any]) -> None:
        self.calls.append(("preflight", None))
        if self.missing:
            raise PermissionDeniedError("lacks " + ", ".join(self.missing), missing=self.missing)

    def recover_dispatch(self, err: Any, *, slack_s: float = 2.0) -> str | None:
        return self.find_task(err.task_type, err.vmid, 0)

    def next_vmid(self, hint: int | None = None) -> int:
        self.calls.append(("next_vmid", None))
        vmid = next(i for i in itertools.count(100) if i not in self.cts)
        if self.steal_next:
            self.steal_next = False
            self.cts[vmid] = {"hostname": "intruder", "description": "someone else\n"}
        return vmid

    def list_lxc(self) -> list[dict[str, Any]]:
        self.calls.append(("list_lxc", None))
        return [
            {
                "vmid": v,
                "tags": c.get("tags", ""),
                "lock": c.get("lock"),
                "status": "running" if v in self.running else "stopped",
            }
            for v, c in self.cts.items()
        ]

    def extractconfig(self, volid: str) -> str:
        self.calls.append(("extractconfig", volid))
        return self.archive_conf

    def restore_lxc(self, vmid: int, archive: str, overrides: Mapping[str, Any]) -> str:
        self.calls.append(("restore_lxc", vmid))
        fault = self._fault("restore_lxc")
        if vmid in self.cts:
            raise AlreadyExistsError(f"CT {vmid} already exists on node 'pve'")
        if isinstance(fault, Exception) and not isinstance(fault, ConnectionLostError):
            raise fault
        cfg: dict[str, Any] = {}
        for line in self.archive_conf.splitlines():
            key, _, value = line.partition(":")
            cfg[key.strip()] = value.strip()
        for key, value in overrides.items():
            cfg[key] = str(value)
        if "hwaddr" not in cfg["net0"]:
            cfg["net0"] += f",hwaddr=BC:24:11:00:00:{next(self._mac):02X}"
        cfg["rootfs"] = f"local-lvm:vm-{vmid}-disk-0,size={overrides['rootfs'].split(':')[1]}G"
        for key in [k for k in overrides if k.startswith("mp")]:
            storage, _, rest = str(overrides[key]).partition(":")
            size, _, mp = rest.partition(",")
            cfg[key] = f"{storage}:vm-{vmid}-disk-{key[2:]}1,{mp},size={size}G"
        fail = "restore failed" if fault == "task-fails" else None
        if fail is None:
            self.cts[vmid] = cfg
        upid = self._task("vzrestore", vmid, fail)
        if isinstance(fault, ConnectionLostError):
            raise fault
        return upid

    def find_task(self, type: str, vmid: int | None, since: float) -> str | None:
        self.calls.append(("find_task", (type, vmid)))
        found = [t.upid for t in self.tasks.values() if t.kind == type and t.vmid == vmid]
        return found[-1] if found else None

    def wait_task(self, upid: str, timeout_s: float, on_progress: Any = None) -> Result:
        self.calls.append(("wait_task", upid))
        task = self.tasks[upid]
        if task.fail:
            raise TaskFailedError(task.fail, upid=upid, exitstatus=task.fail)
        return Result()

    def get_config(self, vmid: int, *, current: bool = False) -> dict[str, Any]:
        self.calls.append(("get_config", vmid))
        cfg = self._cfg(vmid)
        return {**cfg, "digest": _digest(cfg)}

    def in_pool(self, pool: str, vmid: int) -> bool:
        self.calls.append(("in_pool", (pool, vmid)))
        return vmid in self.pools.get(pool, set())

    def set_pool(self, pool: str, vmid: int) -> None:
        self.calls.append(("set_pool", (pool, vmid)))
        for members in self.pools.values():
            members.discard(vmid)
        self.pools.setdefault(pool, set()).add(vmid)

    def put_config(
        self,
        vmid: int,
        params: Mapping[str, Any] | None = None,
        delete: Any = (),
        digest: str | None = None,
        **options: Any,
    ) -> None:
        params = {**(params or {}), **options}
        self.calls.append(("put_config", (vmid, params)))
        cfg = self._cfg(vmid)
        fault = self._fault("put_config")
        if isinstance(fault, Exception):
            raise fault
        if digest is not None and digest != _digest(cfg):
            # pve-guest-common ``assert_if_modified``.
            raise PermanentPveError("detected modified configuration - file changed by other user")
        cfg.update({k: str(v) for k, v in params.items()})
        for key in [d for d in (delete.split(",") if isinstance(delete, str) else delete) if d]:
            cfg.pop(key, None)

    def resize(self, vmid: int, disk: str, size: str) -> str:
        self.calls.append(("resize", (vmid, disk, size)))
        cfg = self._cfg(vmid)
        cfg[disk] = cfg[disk].rsplit("size=", 1)[0] + f"size={size}"
        return self._task("resize", vmid)

    def status(self, vmid: int) -> dict[str, Any]:
        self.calls.append(("status", vmid))
        self._cfg(vmid)
        return {"status": "running" if vmid in self.running else "stopped"}

    def start(self, vmid: int) -> str:
        self.calls.append(("start", vmid))
        if self._fault("start") == "task-fails":
            return self._task("vzstart", vmid, "command 'systemctl start pve-container@1' failed")
        self.running.add(vmid)
        return self._task("vzstart", vmid)

    def stop(self, vmid: int) -> str:
        self.calls.append(("stop", vmid))
        if vmid not in self.running:
            raise NotRunningError(f"CT {vmid} not running")
        self.running.discard(vmid)
        return self._task("vzstop", vmid)

    def shutdown(self, vmid: int, timeout: int = 60, *, force_stop: bool = False) -> str:
        self.calls.append(("shutdown", vmid))
        self.running.discard(vmid)
        return self._task("vzshutdown", vmid)

    def destroy(
        self,
        vmid: int,
        purge: bool = True,
        destroy_unreferenced_disks: bool = True,
        force: bool = False,
    ) -> str:
        self.calls.append(("destroy", vmid))
        fault = self._fault("destroy")
        if isinstance(fault, Exception):
            raise fault
        if self._cfg(vmid).get("protection") == "1":
            raise PermanentPveError("can't remove CT - protection mode enabled")
        if vmid in self.running:
            raise PermanentPveError(f"unable to destroy CT {vmid} - container is running")
        self._cfg(vmid)
        del self.cts[vmid]
        return self._task("vzdestroy", vmid)

    def interfaces(self, vmid: int) -> list[dict[str, Any]] | None:
        self.calls.append(("interfaces", vmid))
        if vmid not in self.running or not self.leases:
            return None
        mac = self.cts[vmid]["net0"].split("hwaddr=")[1][:17]
        return [
            {"name": "lo", "hwaddr": "00:00:00:00:00:00", "inet": "127.0.0.1/8"},
            {"name": "eth0", "hwaddr": mac.lower(), "inet": f"127.77.0.{vmid % 250}/16"},
        ]

    def mutating(self) -> list[str]:
        """Names of the mutating calls, in order."""
        names = {"restore_lxc", "put_config", "resize", "start", "stop", "shutdown", "destroy"}
        return [name for name, _ in self.calls if name in names]


def _digest(cfg: Mapping[str, Any]) -> str:
    """A config digest as PVE sends it (SHA-1 of the config file), over the fake's dict."""
    text = "\n".join(f"{k}: {v}" for k, v in sorted(cfg.items()))
    return hashlib.sha1(text.encode()).hexdigest()


class FakeClock:
    """Monotonic time that only moves when the engine sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class FakeShell:
    """Records ``pct exec`` argv; ``on_exec`` may change the world (e.g. keys appear).

    ``files`` is a tiny guest filesystem ``{(vmid, path): text}`` for the commands the engine
    runs: ``cat``, ``tee`` (stdin), ``install -d``/``chmod`` (recorded in ``modes``) and the
    host-key glob ``sh -c 'cat /etc/ssh/ssh_host_*_key.pub'``; anything else exits 0.
    """

    execs: list[tuple[int, list[str]]] = field(default_factory=list)
    on_exec: Any = None
    files: dict[tuple[int, str], str] = field(default_factory=dict)
    modes: dict[tuple[int, str], str] = field(default_factory=dict)

    def exec(
        self, vmid: int, argv: Any, stdin: bytes | str | None = None, timeout: float = 600.0
    ) -> Any:
        argv = list(argv)
        self.execs.append((vmid, argv))
        if self.on_exec:
            self.on_exec(vmid, argv)
        code, out = 0, ""
        if argv[0] == "cat":
            code, out = (
                (0, self.files[(vmid, argv[1])]) if (vmid, argv[1]) in self.files else (1, "")
            )
        elif argv[0] == "tee":
            text = stdin.decode() if isinstance(stdin, bytes) else str(stdin or "")
            self.files[(vmid, argv[1])] = out = text
        elif argv[0] in ("install", "chmod"):
            mode = argv[argv.index("-m") + 1] if "-m" in argv else argv[1]
            self.modes[(vmid, argv[-1])] = mode
            if "/dev/stdin" in argv:
                text = stdin.decode() if isinstance(stdin, bytes) else str(stdin or "")
                self.files[(vmid, argv[-1])] = text
        elif argv[:2] == ["sh", "-c"] and "ssh_host_" in argv[2]:
            pubs = [
                t
                for (v, path), t in sorted(self.files.items())
                if v == vmid and path.startswith("/etc/ssh/ssh_host_")
            ]
            code, out = (0, "".join(pubs)) if pubs else (1, "")
        return type("R", (), {"exit_code": code, "stdout": out, "stderr": ""})()

    def run(self, argv: Any, stdin: bytes | str | None = None, timeout: float = 600.0) -> Any:
        return self.exec(0, argv, stdin, timeout)
