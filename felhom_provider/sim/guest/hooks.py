"""The guest model plugged into the simulator's ``GuestHooks`` and the node shell's ``pct exec``.

``SimGuestHooks`` keeps each CT's ``guest`` payload current: a CT created from the vztmpl gets
the Debian 13 template after PVE's create hook; start boots it (``boot.start``), stop shuts it
down. ``exec`` is ``pct exec``: it runs argv in a running guest and saves the payload.

Listeners (the guest sshd) learn after every change which guests have an active
``ssh.service`` and a lease, with their host keys. The keys are materialised before the payload
is saved, so a lazily created key is generated once and then stays the same.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from felhom_provider.sim.guest import authkeys, boot, hostkeys, keypool, mounts, shell, template
from felhom_provider.sim.guest.model import GuestModel
from felhom_provider.sim.guest.registry import Result
from felhom_provider.sim.hookbase import GuestHooks

if TYPE_CHECKING:
    from felhom_provider.sim.models import Container
    from felhom_provider.sim.storage import StorageRegistry


@dataclass(frozen=True)
class SshdView:
    """What a guest's sshd presents: the lease address and the private host keys."""

    vmid: int
    address: str
    private_keys: tuple[str, ...]


Listener = Callable[[int, SshdView | None], None]


class StateLike(Protocol):
    """The two calls of the simulator's state that ``exec`` needs."""

    mutex: Any

    def ct(self, vmid: int) -> Container:
        """The CT or PVE's missing-config error."""
        ...

    def save_ct(self, ct: Container) -> None:
        """Persist a CT."""
        ...


class GuestNotRunningError(Exception):
    """``pct exec`` on a stopped CT (``pct.pm``: ``container '<id>' not running!``)."""


def sshd_view(vmid: int, model: GuestModel) -> SshdView | None:
    """The sshd a client would reach, or None when ssh.service is not active or the guest has
    no address (no DHCP lease and no static address)."""
    rt = model.runtime
    if rt is None or rt.address is None or rt.state("ssh.service").active != "active":
        return None
    keys: list[str] = []
    for key_type in hostkeys.KEY_TYPES:
        path = hostkeys.host_key_path(key_type)
        if model.fs.is_file(path):
            keys.append(model.fs.read(path))  # materialises a lazy key, saved by the caller
    return SshdView(vmid, rt.address, tuple(keys))


class SimGuestHooks(GuestHooks):
    """Guest hooks backed by :class:`GuestModel`; one lock serialises all guest changes."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.listeners: list[Listener] = []
        self.storage: StorageRegistry | None = None

    def attach(self, storage: StorageRegistry) -> None:
        """Keep the volume registry: mount point contents live on their volumes."""
        self.storage = storage

    @contextmanager
    def mounted(self, ct: Container, *, save: bool = True) -> Iterator[GuestModel]:
        """The CT's guest with its mount point volumes laid over it (``guest.mounts``).

        On leaving, mount contents go back to their volumes and ``ct.guest`` holds the rootfs
        only (when ``save``). Callers hold ``self.lock``.
        """
        model = GuestModel.from_payload(ct.guest)
        attached = (
            mounts.attach(model.fs, mounts.mount_table(ct.conf), self.storage)
            if self.storage is not None
            else None
        )
        yield model
        if save:
            if attached is not None and self.storage is not None:
                mounts.detach(model.fs, attached, self.storage)
            ct.guest = model.to_payload()

    def archive_payload(self, ct: Container) -> dict[str, Any]:
        """The rootfs plus the ``backup=1`` mount points (``VZDump/LXC.pm``'s selection)."""
        if not ct.guest:
            return {}
        with self.lock:
            model = GuestModel.from_payload(ct.guest)
            if self.storage is not None:
                table = mounts.mount_table(ct.conf, backup_only=True)
                mounts.attach(model.fs, table, self.storage)
            return model.to_payload()

    def restore_payload(self, ct: Container, payload: dict[str, Any]) -> None:
        """Extract an archive over the restored CT: files under an mp path go to its volume."""
        if not payload or self.storage is None:
            ct.guest = dict(payload)
            return
        with self.lock:
            model = GuestModel.from_payload(payload)
            fresh = mounts.Attached(mounts=mounts.mount_table(ct.conf))
            mounts.detach(model.fs, fresh, self.storage)
            ct.guest = model.to_payload()

    def _notify(self, vmid: int, view: SshdView | None) -> None:
        for listener in self.listeners:
            listener(vmid, view)

    def on_create_accepted(self, ct: Container, duration: float) -> None:
        """Let the key pool make the RSA key this guest's first boot will probably need.

        Only when the task takes clock time: with instant tasks there is nothing to overlap.
        """
        if duration > 0:
            keypool.expect(1)

    def on_template_create(self, ct: Container) -> dict[str, Any]:
        """The template's rootfs after PVE's create hook (no machine-id, fresh host keys)."""
        model = GuestModel.from_template()
        template.create_from_template(model.fs, ct.hostname)
        return model.to_payload()

    def on_start(self, ct: Container, lease_ip: str | None) -> None:
        """Boot the guest, or resume it when the simulator restarts with the CT running."""
        if not ct.guest:
            return
        with self.lock, self.mounted(ct) as model:
            if model.runtime is None:
                boot.start(model, boot.facts_from_config(ct.vmid, ct.conf), lease_ip)
            view = sshd_view(ct.vmid, model)
        self._notify(ct.vmid, view)

    def on_stop(self, ct: Container) -> None:
        """Shut the guest down; its sshd goes away."""
        if ct.guest:
            with self.lock, self.mounted(ct) as model:
                boot.stop(model)
        self._notify(ct.vmid, None)

    def on_destroy(self, ct: Container) -> None:
        """The CT is gone."""
        self._notify(ct.vmid, None)

    def exec(self, state: StateLike, vmid: int, argv: list[str], stdin: str = "") -> Result:
        """``pct exec <vmid> -- argv``: run in the guest, persist, return the result.

        Lock order: ``state.mutex`` is never taken while ``self.lock`` is held. Worker tasks
        hold ``state.mutex`` when they call the hooks (restore, start, stop), so taking them
        the other way round here deadlocks every request of the simulator.
        """
        ct = state.ct(vmid)  # takes and releases state.mutex
        with self.lock:
            if ct.status != "running":
                raise GuestNotRunningError(f"container '{vmid}' not running!")
            if not ct.guest:
                return Result(
                    127, "", "sim: this CT has no simulated guest (not created from a template)\n"
                )
            with self.mounted(ct) as model:
                result = shell.run(model, argv, stdin)
                view = sshd_view(vmid, model)
        with state.mutex:
            state.save_ct(ct)
        self._notify(vmid, view)
        return result

    def authorized_keys(self, state: StateLike, vmid: int) -> set[tuple[str, str]]:
        """root's usable authorized keys as (type, base64), after StrictModes checks."""
        ct = state.ct(vmid)  # outside self.lock: see ``exec`` for the lock order
        with self.lock:
            if ct.status != "running" or not ct.guest:
                return set()
            with self.mounted(ct, save=False) as model:
                return authkeys.usable_keys(model.fs, "/root")

    def views(self, cts: list[Container]) -> list[SshdView]:
        """Current sshd views of running CTs (for a service that starts late)."""
        found: list[SshdView] = []
        with self.lock:
            for ct in cts:
                if ct.status == "running" and ct.guest:
                    view = sshd_view(ct.vmid, GuestModel.from_payload(ct.guest))
                    if view is not None:
                        found.append(view)
        return found
