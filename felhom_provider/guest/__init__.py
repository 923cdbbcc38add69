"""Running commands in guests and on the PVE node, and reading SSH host keys by handshake."""

from felhom_provider.guest.hostkeys import fingerprint, parse_public_key, probe_host_keys
from felhom_provider.guest.shell import (
    Arg,
    ExecResult,
    NodeShell,
    display_argv,
    quote_argv,
)
from felhom_provider.guest.ssh import NodeShellSettings, ParamikoNodeShell

__all__ = [
    "Arg",
    "ExecResult",
    "NodeShell",
    "NodeShellSettings",
    "ParamikoNodeShell",
    "display_argv",
    "fingerprint",
    "parse_public_key",
    "probe_host_keys",
    "quote_argv",
]
