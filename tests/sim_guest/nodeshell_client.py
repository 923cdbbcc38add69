"""A minimal root client for the node shell: pinned host key, key auth, one command per channel."""

from __future__ import annotations

import base64
import shlex
from dataclasses import dataclass
from typing import Any

import paramiko


@dataclass
class Ran:
    """Exit status and output of one command."""

    code: int
    out: str
    err: str


class NodeShellClient:
    """Runs ``pct …`` on the simulated node as root."""

    def __init__(self, client: paramiko.SSHClient) -> None:
        self.client = client

    @classmethod
    def connect(cls, entry: dict[str, Any], key_path: str | None = None) -> NodeShellClient:
        client = paramiko.SSHClient()
        key_type, key_b64 = entry["host_public_key"].split()[:2]
        host_key = paramiko.PKey.from_type_string(key_type, base64.b64decode(key_b64))
        client.get_host_keys().add(f"[{entry['host']}]:{entry['port']}", key_type, host_key)
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        client.connect(
            entry["host"],
            port=entry["port"],
            username=entry["user"],
            key_filename=key_path or entry["client_private_key_path"],
            look_for_keys=False,
            allow_agent=False,
            timeout=10,
        )
        return cls(client)

    def run(self, command: str | list[str], stdin: str | None = None) -> Ran:
        """Run a command line (or an argv, quoted like the product does)."""
        line = command if isinstance(command, str) else shlex.join(command)
        transport = self.client.get_transport()
        assert transport is not None
        channel = transport.open_session(timeout=10)
        channel.exec_command(line)
        if stdin is not None:
            channel.sendall(stdin.encode())
        channel.shutdown_write()
        out = channel.makefile("rb").read().decode()
        err = channel.makefile_stderr("rb").read().decode()
        code = channel.recv_exit_status()
        channel.close()
        return Ran(code, out, err)

    def pct_exec(self, vmid: int, *argv: str, stdin: str | None = None) -> Ran:
        """``pct exec <vmid> -- argv``."""
        return self.run(["pct", "exec", str(vmid), "--", *argv], stdin)

    def close(self) -> None:
        self.client.close()
