"""Felhom's customer Docker hosts on Proxmox VE, as a Pulumi dynamic provider.

The public surface is the two resources, ``GoldenImage`` and ``FelhomGuest``; the
subpackages hold the PVE client (``pve``), the guest-side shell (``guest``), the bring-up
engine (``reconcile``) and the embedded PVE simulator (``sim``).
"""

__version__ = "0.1.0"
