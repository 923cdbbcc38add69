"""Guest bring-up (``FelhomGuest``): create, read, update and delete one customer guest."""

from __future__ import annotations

import time
from collections.abc import Callable

from felhom_provider.reconcile.locks import DEFAULT_RESTORES_PER_NODE
from felhom_provider.reconcile.model import GuestSpec, GuestState
from felhom_provider.reconcile.ports import HostKeyProbe, Progress, PveApi, ShellLike


class GuestEngine:
    """Brings customer guests up from the golden archive with the API token.

    ``shell`` is the optional node shell (only for the host-key fallback); ``progress``
    receives one line per step (the resources show them in ``pulumi up``).
    """

    def __init__(
        self,
        client: PveApi,
        shell: ShellLike | None = None,
        *,
        guest_ssh_port: int = 22,
        progress: Progress | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        probe: HostKeyProbe | None = None,
        restores_per_node: int = DEFAULT_RESTORES_PER_NODE,
        lease_timeout_s: float = 120.0,
        hostkey_timeout_s: float = 60.0,
        task_timeout_s: float = 600.0,
    ) -> None:
        raise NotImplementedError

    def create(self, spec: GuestSpec) -> GuestState:
        """Bring a guest up; on any failure undo what was done and raise (journal attached)."""
        raise NotImplementedError

    def read(self, vmid: int, owner: str) -> GuestState | None:
        """Observe a guest; None when gone; OwnershipError when the VMID is someone else's."""
        raise NotImplementedError

    def update(self, vmid: int, spec: GuestSpec, old: GuestState) -> GuestState:
        """Apply in-place changes (cores, memory, swap, hostname, tags, rootfs grow, mounts)."""
        raise NotImplementedError

    def delete(self, vmid: int, owner: str) -> None:
        """Stop, destroy with purge, verify gone. Missing counts as deleted."""
        raise NotImplementedError
