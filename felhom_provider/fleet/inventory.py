"""Every stack's outputs as an Ansible inventory, an OpenSSH ``known_hosts`` file and JSON.

Built from stack outputs alone (``pulumi stack output``), never from PVE. The ``guests``
output of a stack maps guest names to ``{vmid, node, hostname, mac, ipv4, hostKeys, sshPort,
sshUser, hostPublicKeys, knownHosts, tags, ...}`` (README, "Stack config and outputs").

- Ansible: ``all.children.felhom.children.<stack group>.hosts.<hostname>`` with
  ``ansible_host`` (the guest's IPv4), ``ansible_port``, ``ansible_user`` and ``felhom_*``
  facts; also groups per PVE node (``node_<node>``) and per guest tag (``tag_<tag>``). Group
  names use only letters, digits and ``_`` as Ansible requires.
- known_hosts: the guest's own ``knownHosts`` lines when it publishes them, else one line per
  key of ``hostPublicKeys`` for ``ipv4`` (``[ipv4]:port`` off port 22, as OpenSSH writes
  non-default ports) and the hostname. Fingerprints (``hostKeys``) cannot make a known_hosts
  line; a guest with only fingerprints is listed in ``missingKeys`` of the JSON document.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_SSH_PORT = 22
DEFAULT_SSH_USER = "root"


def group_name(prefix: str, name: str) -> str:
    """An Ansible-safe group name: letters, digits and ``_``, not starting with a digit."""
    cleaned = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return f"{prefix}{cleaned}" if prefix or not cleaned[:1].isdigit() else f"_{cleaned}"


def host_pattern(address: str, port: int) -> str:
    """How OpenSSH names a host in known_hosts: ``addr`` on port 22, ``[addr]:port`` otherwise."""
    return address if port == DEFAULT_SSH_PORT else f"[{address}]:{port}"


@dataclass(frozen=True)
class Guest:
    """One guest as the inventory needs it."""

    stack: str
    name: str
    hostname: str
    ipv4: str
    vmid: int | None
    node: str
    mac: str
    ssh_port: int
    ssh_user: str
    tags: tuple[str, ...]
    host_keys: dict[str, str] = field(default_factory=dict)
    public_keys: dict[str, str] = field(default_factory=dict)
    known_hosts: tuple[str, ...] = ()

    @classmethod
    def from_output(
        cls, stack: str, name: str, raw: Mapping[str, Any], ssh_port: int = DEFAULT_SSH_PORT
    ) -> Guest:
        """A guest from one entry of a stack's ``guests`` output.

        ``ssh_port`` is used when the output has no ``sshPort`` (outputs written before it
        existed): the stack's ``felhom:guestSshPort``.
        """
        vmid = raw.get("vmid")
        return cls(
            stack=stack,
            name=name,
            hostname=str(raw.get("hostname") or name),
            ipv4=str(raw.get("ipv4") or ""),
            vmid=int(vmid) if isinstance(vmid, int | float) else None,
            node=str(raw.get("node") or ""),
            mac=str(raw.get("mac") or ""),
            ssh_port=int(raw.get("sshPort") or ssh_port),
            ssh_user=str(raw.get("sshUser") or DEFAULT_SSH_USER),
            tags=tuple(str(t) for t in raw.get("tags") or ()),
            host_keys=dict(raw.get("hostKeys") or {}),
            public_keys=dict(raw.get("hostPublicKeys") or {}),
            known_hosts=tuple(str(line) for line in raw.get("knownHosts") or ()),
        )

    def known_host_lines(self) -> list[str]:
        """This guest's known_hosts lines (empty when it publishes no public key)."""
        if self.known_hosts:
            return list(self.known_hosts)
        names = [n for n in (host_pattern(self.ipv4, self.ssh_port),) if self.ipv4]
        if self.hostname and self.hostname != self.ipv4:
            names.append(host_pattern(self.hostname, self.ssh_port))
        lines = []
        for key_type, value in sorted(self.public_keys.items()):
            parts = value.split()
            # "ssh-ed25519 AAAA..." or just the base64 blob.
            blob = parts[1] if len(parts) >= 2 else parts[0] if parts else ""
            kind = parts[0] if len(parts) >= 2 else key_type
            if blob and names:
                lines.append(f"{','.join(names)} {kind} {blob}")
        return lines


def guests_of(
    outputs: Mapping[str, Mapping[str, Any]], ssh_ports: Mapping[str, int] | None = None
) -> list[Guest]:
    """Every guest of every stack, from ``{stack: outputs}``, sorted by stack and name.

    ``ssh_ports`` maps stacks to their ``felhom:guestSshPort`` (used without ``sshPort``).
    """
    found = []
    for stack, out in sorted(outputs.items()):
        guests = out.get("guests") or {}
        port = (ssh_ports or {}).get(stack, DEFAULT_SSH_PORT)
        for name, raw in sorted(guests.items()):
            if isinstance(raw, Mapping):
                found.append(Guest.from_output(stack, name, raw, port))
    return found


def inventory_name(guest: Guest, taken: set[str]) -> str:
    """The guest's hostname, qualified with its stack when another stack uses it too."""
    name = guest.hostname if guest.hostname not in taken else f"{guest.stack}-{guest.hostname}"
    taken.add(name)
    return name


def ansible_inventory(guests: list[Guest]) -> dict[str, Any]:
    """The Ansible YAML inventory as a mapping (``yaml.safe_dump`` it)."""
    stacks: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    taken: set[str] = set()
    for guest in guests:
        host = inventory_name(guest, taken)
        hostvars = {
            "ansible_host": guest.ipv4,
            "ansible_port": guest.ssh_port,
            "ansible_user": guest.ssh_user,
            "felhom_stack": guest.stack,
            "felhom_guest": guest.name,
            "felhom_vmid": guest.vmid,
            "felhom_node": guest.node,
            "felhom_mac": guest.mac,
            "felhom_tags": list(guest.tags),
        }
        group = stacks.setdefault(group_name("", guest.stack), {"hosts": {}})
        group["hosts"][host] = hostvars
        groups = [group_name("node_", guest.node)] if guest.node else []
        groups += [group_name("tag_", t) for t in guest.tags]
        for name in groups:
            extra.setdefault(name, {"hosts": {}})["hosts"][host] = None
    children: dict[str, Any] = {"felhom": {"children": stacks}}
    children.update(extra)
    return {"all": {"children": children}}


def known_hosts(guests: list[Guest]) -> str:
    """The known_hosts file's text."""
    lines = [line for g in guests for line in g.known_host_lines()]
    return "".join(f"{line}\n" for line in lines)


def inventory_document(
    outputs: Mapping[str, Mapping[str, Any]], ssh_ports: Mapping[str, int] | None = None
) -> dict[str, Any]:
    """The JSON document: every stack's guests, and which guests publish no public key."""
    guests = guests_of(outputs, ssh_ports)
    return {
        "stacks": {
            stack: {"guests": dict(out.get("guests") or {})}
            for stack, out in sorted(outputs.items())
        },
        "hosts": [
            {
                "stack": g.stack,
                "guest": g.name,
                "hostname": g.hostname,
                "ipv4": g.ipv4,
                "sshPort": g.ssh_port,
                "sshUser": g.ssh_user,
                "vmid": g.vmid,
                "node": g.node,
                "hostKeys": g.host_keys,
                "knownHosts": g.known_host_lines(),
            }
            for g in guests
        ],
        "missingKeys": [f"{g.stack}/{g.name}" for g in guests if not g.known_host_lines()],
    }
