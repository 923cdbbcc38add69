"""Running commands in guests and on the PVE node, and reading SSH host keys by handshake.

The names are loaded on first use (PEP 562), so importing ``guest.knownhosts`` (the Pulumi
program does, for the ``knownHosts`` output) does not load the SSH library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from felhom_provider._lazy import lazy_exports

if TYPE_CHECKING:
    from felhom_provider.guest.hostkeys import fingerprint, parse_public_key, probe_host_keys
    from felhom_provider.guest.shell import (
        Arg,
        ExecResult,
        NodeShell,
        display_argv,
        quote_argv,
    )
    from felhom_provider.guest.ssh import NodeShellSettings, ParamikoNodeShell

_HOMES = {
    "fingerprint": "hostkeys",
    "parse_public_key": "hostkeys",
    "probe_host_keys": "hostkeys",
    "Arg": "shell",
    "ExecResult": "shell",
    "NodeShell": "shell",
    "display_argv": "shell",
    "quote_argv": "shell",
    "NodeShellSettings": "ssh",
    "ParamikoNodeShell": "ssh",
}

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


__getattr__ = lazy_exports(__name__, _HOMES, globals())
