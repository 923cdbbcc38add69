"""Running commands in guests and on the PVE node, and reading SSH host keys by handshake."""

from felhom_provider.guest.hostkeys import fingerprint, parse_public_key, probe_host_keys
from felhom_provider.guest.shell import (
    ExecResult,
    GuestShell,
    NodeShell,
    Secret,
    display_argv,
    mask,
    quote_argv,
)
from felhom_provider.guest.ssh import NodeShellSettings, ParamikoNodeShell

__all__ = [
    "ExecResult",
    "GuestShell",
    "NodeShell",
    "NodeShellSettings",
    "ParamikoNodeShell",
    "Secret",
    "display_argv",
    "fingerprint",
    "mask",
    "parse_public_key",
    "probe_host_keys",
    "quote_argv",
]
