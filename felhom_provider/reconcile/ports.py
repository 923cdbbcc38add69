"""The narrow interfaces the engine needs from the PVE client and the guest shell.

The engine codes against these Protocols so unit tests can pass small fakes; the real
``felhom_provider.pve.PveClient`` and ``felhom_provider.guest`` shells satisfy them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

#: ``probe(host, port, timeout) -> {key_type: "SHA256:…"}`` (guest/hostkeys.py).
HostKeyProbe = Callable[[str, int, float], dict[str, str]]
Progress = Callable[[str], None]


class TaskResultLike(Protocol):
    """What ``wait_task`` returns: the final status of a PVE task."""

    @property
    def exitstatus(self) -> str: ...


class ExecResultLike(Protocol):
    """What a shell command returns."""

    @property
    def exit_code(self) -> int: ...

    @property
    def stdout(self) -> str: ...

    @property
    def stderr(self) -> str: ...


class ShellLike(Protocol):
    """A node shell: ``pct exec`` into a guest, or a command on the node itself."""

    def exec(
        self, vmid: int, argv: Sequence[str], stdin: str | None = None, timeout: float = ...
    ) -> Any: ...

    def run(self, argv: Sequence[str], stdin: str | None = None, timeout: float = ...) -> Any: ...


class PveApi(Protocol):
    """The PVE client methods the engine calls (one per endpoint)."""

    node: str

    def next_vmid(self) -> int: ...

    def list_lxc(self) -> list[dict[str, Any]]: ...

    def restore_lxc(self, vmid: int, archive: str, overrides: Mapping[str, Any]) -> Any: ...

    def get_config(self, vmid: int) -> dict[str, Any]: ...

    def put_config(self, vmid: int, **params: Any) -> Any: ...

    def resize(self, vmid: int, disk: str, size: str) -> Any: ...

    def start(self, vmid: int) -> Any: ...

    def stop(self, vmid: int) -> Any: ...

    def shutdown(self, vmid: int, timeout: int = ...) -> Any: ...

    def status(self, vmid: int) -> dict[str, Any]: ...

    def destroy(
        self,
        vmid: int,
        purge: bool = True,
        destroy_unreferenced_disks: bool = True,
        force: bool = False,
    ) -> Any: ...

    def interfaces(self, vmid: int) -> list[dict[str, Any]] | None: ...

    def extractconfig(self, volid: str) -> str: ...

    def find_task(self, type: str, vmid: int, since: float) -> Any: ...

    def wait_task(
        self, upid: Any, timeout_s: float = ..., on_progress: Callable[[str], None] | None = ...
    ) -> Any: ...


class GoldenApi(PveApi, Protocol):
    """The extra PVE client methods the golden build calls."""

    def vzdump(self, vmid: int, **params: Any) -> Any: ...

    def storage_content(self, storage: str, **params: Any) -> list[dict[str, Any]]: ...

    def delete_volume(self, storage: str, volid: str) -> Any: ...
