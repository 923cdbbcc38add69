"""ParamikoNodeShell and probe_host_keys against the simulator's node shell and guest sshd.

The node shell's host key is pinned from ``endpoint.json``; a CT is created and started
over the node shell as root, commands run in it through ``pct exec``, and the fingerprints
read by handshake from its sshd must equal what ``ssh-keygen -l`` prints inside the guest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from felhom_provider.errors import HostKeyError
from felhom_provider.guest import NodeShellSettings, ParamikoNodeShell, probe_host_keys
from felhom_provider.pve import PveClient, PveEndpoint
from tests.sim_guest.conftest import extensions

from .sshserver import new_ed25519, public_line

TEMPLATE = "local:vztmpl/debian-13-standard_13.1-2_amd64.tar.zst"
VMID = 9100


def _create_argv(hostname: str, *extra: str) -> list[str]:
    return [
        *("pct", "create", str(VMID), TEMPLATE, "--hostname", hostname, "--unprivileged", "1"),
        *("--rootfs", "local-lvm:8", "--net0", "name=eth0,bridge=vmbr0,ip=dhcp", *extra),
    ]


@pytest.fixture
def guest_sim(sim_factory: Callable[..., Any]) -> Any:
    return sim_factory(extensions=extensions())


@pytest.fixture
def node_settings(guest_sim: Any) -> NodeShellSettings:
    ns = guest_sim.endpoint["node_shell"]
    return NodeShellSettings(
        host=ns["host"],
        port=int(ns["port"]),
        user=ns.get("user", "root"),
        host_key=ns["host_public_key"],
        key_file=ns["client_private_key_path"],
        connect_timeout_s=5.0,
        command_timeout_s=60.0,
    )


@pytest.fixture
def node(node_settings: NodeShellSettings) -> Iterator[ParamikoNodeShell]:
    with ParamikoNodeShell(node_settings) as shell:
        yield shell


def test_node_shell_pinned_and_pct_exec(node: ParamikoNodeShell, guest_sim: Any) -> None:
    assert node.run(["pveversion"]).ok
    created = node.run(_create_argv("felhom-golden", "--features", "nesting=1,keyctl=1"))
    created.check(what="pct create")
    stopped = node.exec(VMID, ["hostname"])
    assert not stopped.ok  # pct exec needs a running CT
    node.run(["pct", "start", str(VMID)]).check()
    assert node.exec(VMID, ["cat", "/etc/hostname"]).check().stdout.strip() == "felhom-golden"
    missing = node.exec(VMID, ["no-such-command", "x"])
    assert missing.exit_code == 127


def test_changed_node_key_refused(node_settings: NodeShellSettings) -> None:
    other = replace(node_settings, host_key=public_line(new_ed25519()))
    with ParamikoNodeShell(other) as shell, pytest.raises(HostKeyError, match="changed"):
        shell.run(["pveversion"])


def test_probe_matches_ssh_keygen_inside_the_guest(node: ParamikoNodeShell, guest_sim: Any) -> None:
    node.run(_create_argv("g1")).check()
    node.run(["pct", "start", str(VMID)]).check()
    node.exec(VMID, ["sh", "-c", "ssh-keygen -A && systemctl restart ssh"]).check()
    api = PveClient(PveEndpoint.from_endpoint_json(Path(guest_sim.state_dir) / "endpoint.json"))
    (eth0,) = [i for i in api.interfaces(VMID) or [] if i["name"] == "eth0"]
    address = str(eth0["inet"]).split("/")[0]
    port = int(guest_sim.endpoint["guest_ssh_port"])

    found = probe_host_keys(address, port, timeout=5.0)

    inside = {}
    for name, key_type in (
        ("ed25519", "ssh-ed25519"),
        ("ecdsa", "ecdsa-sha2-nistp256"),
        ("rsa", "ssh-rsa"),
    ):
        line = node.exec(VMID, ["ssh-keygen", "-l", "-f", f"/etc/ssh/ssh_host_{name}_key"]).check()
        inside[key_type] = line.stdout.split()[1]
    assert found == inside

    node.run(["pct", "stop", str(VMID)]).check()
    with pytest.raises(HostKeyError):  # the guest's sshd stops with the guest
        probe_host_keys(address, port, timeout=2.0)
