"""The guest model's interface: ``GuestHooks``, a no-op base the simulator calls.

The simulator keeps an opaque, JSON-able ``guest`` payload per CT. It does not interpret
it; a guest model (``felhom_provider.sim.guest``) does, through ``GuestHooks``:

* ``on_template_create(ct)`` returns the payload of a CT created from the vztmpl template
  (during the call ``ct.guest["create"]`` holds the request's ``ssh-public-keys`` and whether
  a ``password`` was given);
* ``on_start(ct, lease_ip)`` runs when a start task completes (``lease_ip`` is net0's DHCP
  address, or None), and again for CTs found running when the state is loaded after a
  restart (the guests kept running while the API daemon was down);
* ``on_stop(ct)`` runs when a stop/shutdown task completes (or before a destroy/backup of a
  running CT);
* ``on_destroy(ct)`` runs when a destroy task completes;
* ``attach(storage)`` hands the model the volume registry (volumes hold mount point
  contents); ``archive_payload(ct)``/``restore_payload(ct, payload)`` are what vzdump stores
  and what a restore installs (the guest model lays ``backup=1`` mount points into the
  archive and spreads an archive over the restored CT's volumes).

vzdump stores ``archive_payload(ct)`` in the archive and restore hands it to
``restore_payload``, so whatever the model keeps there travels with backups.

This module is a leaf of the import graph (it names the CT and volume types only), so the
state can hold a ``GuestHooks`` and the guest model can read the state without a circle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from felhom_provider.sim.models import Container
    from felhom_provider.sim.storage import StorageRegistry


class GuestHooks:
    """No-op guest model; subclass and override what you need."""

    def attach(self, storage: StorageRegistry) -> None:
        """Called once by ``SimState`` before it loads: the volumes mount points live on."""

    def archive_payload(self, ct: Container) -> dict[str, Any]:
        """The payload vzdump stores: by default the CT's payload as it is."""
        return dict(ct.guest)

    def restore_payload(self, ct: Container, payload: dict[str, Any]) -> None:
        """Install an archive's payload on a restored CT (after its volumes exist)."""
        ct.guest = dict(payload)

    def on_create_accepted(self, ct: Container, duration: float) -> None:
        """A create or restore was accepted and its task runs ``duration`` clock seconds.

        A guest model may prepare for the CT's first boot meanwhile (off the request path);
        it must not change anything PVE shows.
        """

    def on_template_create(self, ct: Container) -> dict[str, Any]:
        """Payload for a CT created from a vztmpl template (default: empty)."""
        return {}

    def on_start(self, ct: Container, lease_ip: str | None) -> None:
        """The CT is now running."""

    def on_stop(self, ct: Container) -> None:
        """The CT is now stopped."""

    def on_destroy(self, ct: Container) -> None:
        """The CT is gone (its payload is discarded after this)."""
