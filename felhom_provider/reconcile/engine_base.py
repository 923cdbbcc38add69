"""What the engines share: the client, time, progress, tasks and leases; and what the two
engines working on customer guests share on top (``GuestEngineBase``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from felhom_provider.reconcile import locks, vmids
from felhom_provider.reconcile.apply import Applier, lease_of, poll_until
from felhom_provider.reconcile.compensate import compensate
from felhom_provider.reconcile.hostkeys import HostKeys
from felhom_provider.reconcile.journal import Journal
from felhom_provider.reconcile.ports import HostKeyProbe, Progress, PveApi, ShellLike

T = TypeVar("T")


class EngineBase:
    """Holds the client, the injected clock/sleep (tests never wait on the wall clock), the
    progress sink (one line per step, shown in ``pulumi up``) and the shared deadlines.

    The deadlines have no defaults here: each engine names its own and passes them all.
    """

    def __init__(
        self,
        client: PveApi,
        progress: Progress | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        task_timeout_s: float,
        lease_timeout_s: float,
        poll_s: float,
        vmid_attempts: int,
    ) -> None:
        self.client = client
        self._progress = progress or (lambda _line: None)
        self.clock = clock
        self.sleep = sleep
        self.task_timeout_s = task_timeout_s
        self.lease_timeout_s = lease_timeout_s
        self.poll_s = poll_s
        self.vmid_attempts = vmid_attempts

    def _say_for(self, name: str) -> Progress:
        """A progress sink whose lines start with ``name``."""

        def say(line: str) -> None:
            self._progress(f"{name}: {line}")

        return say

    def _applier(self, say: Progress) -> Applier:
        return Applier(
            self.client,
            say,
            clock=self.clock,
            sleep=self.sleep,
            task_timeout_s=self.task_timeout_s,
            poll_s=self.poll_s,
        )

    def _lease(self, vmid: int, mac: str | None) -> str | None:
        """Poll ``…/interfaces`` until the NIC (by MAC, if given) has an IPv4 address."""
        ip = poll_until(
            self.clock,
            self.sleep,
            self.lease_timeout_s,
            self.poll_s,
            lambda: lease_of(self.client.interfaces(vmid), mac),
        )
        return str(ip) if ip else None

    @staticmethod
    def _compensated(
        body: Callable[[], T],
        journal: Journal,
        applier: Applier,
        *,
        owner: str,
        name: str,
        step: Callable[[], str],
        say: Progress,
    ) -> T:
        """Run ``body``; on any failure undo ``journal`` newest-first and re-raise
        (``RollbackError`` naming what is left when an undo fails)."""
        try:
            return body()
        except Exception as exc:
            compensate(journal, applier, owner=owner, name=name, step=step(), exc=exc, say=say)
            raise


class GuestEngineBase(EngineBase):
    """What the two engines that work on a customer guest share (bring-up and roll): the
    node shell, the guest's SSH port, the node's restore bound, the host-key reader, and the
    guest-side defaults of every deadline."""

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
        restores_per_node: int = locks.DEFAULT_RESTORES_PER_NODE,
        lease_timeout_s: float = 120.0,
        hostkey_timeout_s: float = 60.0,
        task_timeout_s: float = 600.0,
        poll_s: float = 1.0,
        vmid_attempts: int = vmids.ATTEMPTS,
    ) -> None:
        super().__init__(
            client,
            progress,
            clock=clock,
            sleep=sleep,
            task_timeout_s=task_timeout_s,
            lease_timeout_s=lease_timeout_s,
            poll_s=poll_s,
            vmid_attempts=vmid_attempts,
        )
        self.shell = shell
        self.guest_ssh_port = guest_ssh_port
        self.restores_per_node = restores_per_node
        self.keys = HostKeys(
            shell,
            probe,
            port=guest_ssh_port,
            clock=clock,
            sleep=sleep,
            timeout_s=hostkey_timeout_s,
            poll_s=poll_s,
        )
