"""``known_hosts`` lines for a guest, from its verified public host keys.

OpenSSH's format (sshd(8), *SSH_KNOWN_HOSTS FILE FORMAT*): ``<host> <keytype> <base64>``,
with the host written ``[host]:port`` when the port is not 22. One line per key type for
each name the guest is reached by (its address and its hostname), so other tools can write
the file as it is and connect with ``StrictHostKeyChecking=yes``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def host_pattern(host: str, port: int) -> str:
    """``host`` or ``[host]:port`` as known_hosts writes it."""
    return host if port == 22 else f"[{host}]:{port}"


def known_hosts_lines(
    public_keys: Mapping[str, str], hosts: Iterable[str | None], *, port: int = 22
) -> list[str]:
    """``["<host> <type> <base64>", …]``: each host (unset ones skipped), each key type."""
    lines: list[str] = []
    for host in hosts:
        if not host:
            continue
        for key_type in sorted(public_keys):
            parts = public_keys[key_type].split()
            lines.append(f"{host_pattern(host, port)} {parts[0]} {parts[1]}")
    return lines
