"""The narrow interfaces the engine needs from the PVE client and the guest shell.

The engine codes against these Protocols so unit tests can pass small fakes; the real
``felhom_provider.pve.PveClient`` satisfies them. The shell Protocol is
``felhom_provider.guest.shell.NodeShell`` (``ShellLike`` here).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from felhom_provider.guest.shell import NodeShell

#: ``probe(host, port, timeout) -> {key_type: "SHA256:…"}`` (guest/hostkeys.py).
HostKeyProbe = Callable[[str, int, float], dict[str, str]]
Progress = Callable[[str], None]
#: The engines' name for the one shell Protocol (``guest.shell.NodeShell``, typed
#: ``ExecResult``); an alias, not a second Protocol.
ShellLike = NodeShell


class PveApi(Protocol):
    """The ``felhom_provider.pve.PveClient`` methods the guest engine calls."""

    @property
    def node(self) -> str: ...

    def next_vmid(self, hint: int | None = None) -> int: ...

    def preflight(self, required: Mapping[str, Iterable[str]]) -> None: ...

    def list_lxc(self) -> list[dict[str, Any]]: ...

    def restore_lxc(self, vmid: int, archive: str, overrides: Mapping[str, Any]) -> Any: ...

    def get_config(self, vmid: int, *, current: bool = False) -> dict[str, Any]: ...

    def put_config(
        self,
        vmid: int,
        params: Mapping[str, Any] | None = None,
        delete: Iterable[str] | str = (),
        digest: str | None = None,
        **options: Any,
    ) -> None: ...

    def resize(self, vmid: int, disk: str, size: str) -> Any: ...

    def in_pool(self, pool: str, vmid: int) -> bool: ...

    def set_pool(self, pool: str, vmid: int) -> None: ...

    def start(self, vmid: int) -> Any: ...

    def stop(self, vmid: int) -> Any: ...

    def shutdown(self, vmid: int, timeout: int = 60, *, force_stop: bool = False) -> Any: ...

    def status(self, vmid: int) -> dict[str, Any]: ...

    def destroy(
        self,
        vmid: int,
        *,
        purge: bool = True,
        destroy_unreferenced_disks: bool = True,
        force: bool = False,
    ) -> Any: ...

    def interfaces(self, vmid: int) -> list[dict[str, Any]] | None: ...

    def extractconfig(self, volid: str) -> str: ...

    def find_task(self, type: str, vmid: int | None, since: float) -> Any: ...

    def recover_dispatch(self, err: Any, *, slack_s: float = 2.0) -> Any: ...

    def wait_task(self, upid: Any, timeout_s: float, on_progress: Any = None) -> Any: ...


class GoldenApi(PveApi, Protocol):
    """The extra PVE client methods the golden build calls."""

    def vzdump(
        self,
        vmid: int,
        storage: str,
        mode: str = "stop",
        compress: str = "zstd",
        *,
        notes: str | None = None,
        protected: bool = False,
    ) -> Any: ...

    def storage_content(
        self, storage: str, content: str | None = None, vmid: int | None = None
    ) -> list[dict[str, Any]]: ...

    def delete_volume(self, storage: str, volid: str) -> Any: ...

    def set_volume_protected(self, storage: str, volid: str, protected: bool) -> Any: ...

    def task_log(self, upid: Any, start: int = 0, limit: int = 50) -> list[dict[str, Any]]: ...


class RollApi(GoldenApi, Protocol):
    """The extra PVE client methods a golden roll-out calls (issue 11)."""

    def move_volume_to(
        self,
        vmid: int,
        volume: str,
        target_vmid: int,
        target_volume: str | None = None,
        *,
        digest: str | None = None,
        target_digest: str | None = None,
    ) -> Any: ...

    def restore_over(self, vmid: int, archive: str, overrides: Mapping[str, Any]) -> Any: ...
