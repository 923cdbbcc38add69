"""The seed runbook's checks inside a restored guest, over the node shell (``pct exec``).

The spike verified its restored guest (9101) by hand: hostname, machine-id, SSH host keys and
``ssh.service``, the lease and MAC on ``eth0``, the mount point, Docker. Each check here is
the command an operator types, run through ``pct exec <vmid> -- …`` (``sh -c`` for pipes),
with output in Debian 13's format.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from felhom_provider.sim.server import SimServer
from tests.sim_guest.nodeshell_client import NodeShellClient
from tests.sim_guest.runbook import Golden, build_golden, hwaddr, lease_of, ok, restore, start

VMID = 9101


@pytest.fixture
def golden(node: NodeShellClient) -> Golden:
    return build_golden(node)


def sh(node: NodeShellClient, script: str) -> Any:
    return node.pct_exec(VMID, "sh", "-c", script)


def test_operator_checks_of_the_restored_guest(
    guest_sim: SimServer, api: Any, node: NodeShellClient, golden: Golden
) -> None:
    n = guest_sim.state.node
    restore(api, n, golden, VMID, net0="name=eth0,bridge=vmbr0,ip=dhcp",
            hostname="felhom-spike-9101")  # fmt: skip
    api.nodes(n).lxc(VMID).config.put(mp0="local-lvm:1,mp=/mnt/spike-test")
    start(api, n, VMID)
    mac = hwaddr(api.nodes(n).lxc(VMID).config.get()["net0"]).lower()
    lease = lease_of(api, n, VMID)

    assert ok(node.pct_exec(VMID, "hostname")).out == "felhom-spike-9101\n"
    assert re.fullmatch(r"[0-9a-f]{32}\n", ok(node.pct_exec(VMID, "cat", "/etc/machine-id")).out)
    # F3: the golden was baked without host keys, so /etc/ssh holds only sshd_config.
    listing = ok(node.pct_exec(VMID, "ls", "-la", "/etc/ssh")).out.splitlines()
    assert listing[0].startswith("total ") and [x.split()[-1] for x in listing[1:]] == [
        ".", "..", "sshd_config"]  # fmt: skip
    assert node.pct_exec(VMID, "systemctl", "is-active", "ssh").out == "failed\n"
    assert ok(sh(node, "ls /etc/ssh/ssh_host_* 2>/dev/null | wc -l")).out == "0\n"
    ok(sh(node, "ssh-keygen -A && systemctl restart ssh"))
    assert ok(sh(node, "ls /etc/ssh/ssh_host_* | wc -l")).out == "6\n"
    fp = ok(node.pct_exec(VMID, "ssh-keygen", "-lf", "/etc/ssh/ssh_host_ed25519_key.pub")).out
    assert re.fullmatch(r"256 SHA256:\S{43} root@felhom-spike-9101 \(ED25519\)\n", fp)
    assert ok(sh(node, "ss -tlnH | wc -l")).out == "2\n"
    assert ok(sh(node, "ps -C sshd -o comm=")).out == "sshd\n"

    # F1/F7: a fresh MAC and its own lease on eth0.
    addr = ok(node.pct_exec(VMID, "ip", "-4", "addr", "show", "eth0")).out
    assert f"    inet {lease}/16 brd 127.77.255.255 scope global eth0\n" in addr
    link = ok(node.pct_exec(VMID, "ip", "link", "show", "eth0")).out
    assert f"    link/ether {mac} brd ff:ff:ff:ff:ff:ff link-netnsid 0\n" in link
    assert ok(node.pct_exec(VMID, "hostname", "-I")).out == f"{lease} \n"

    # The mount point is there and writable.
    df = ok(node.pct_exec(VMID, "df", "-h", "/mnt/spike-test")).out.splitlines()
    assert df == [
        "Filesystem                         Size  Used Avail Use% Mounted on",
        "/dev/mapper/pve-vm--9101--disk--1  999M  4.0K  949M   1% /mnt/spike-test",
    ]
    ok(sh(node, "touch /mnt/spike-test/probe && ls /mnt/spike-test"))

    # F5/F6: Docker runs with overlayfs.
    assert ok(node.pct_exec(VMID, "docker", "info", "--format", "{{.Driver}}")).out == (
        "overlayfs\n"
    )
    assert (
        "Hello from Docker!" in ok(node.pct_exec(VMID, "docker", "run", "--rm", "hello-world")).out
    )
    assert ok(sh(node, "docker ps | wc -l")).out == "1\n"  # --rm left no container
    units = ok(sh(node, "systemctl list-units --type=service --state=running --no-legend")).out
    assert [line.split()[0] for line in units.splitlines()] == [
        "containerd.service", "cron.service", "docker.service", "ssh.service"]  # fmt: skip
