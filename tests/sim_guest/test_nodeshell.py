"""The node shell itself: endpoint.json entries, auth, PVE CLI errors, restart persistence."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import paramiko
import pytest

from felhom_provider.sim.errors import ParamError
from felhom_provider.sim.guest import nodecli
from felhom_provider.sim.guest.sshbase import ensure_ed25519_key
from felhom_provider.sim.guest_sshd import reserve_port
from felhom_provider.sim.hooks import load_extensions
from felhom_provider.sim.schema import UNDEFINED_MESSAGE
from felhom_provider.sim.server import SimServer
from tests.sim_guest.nodeshell_client import NodeShellClient
from tests.sim_guest.runbook import BUILD_VMID, TEMPLATE, ok

CREATE = f"pct create {BUILD_VMID} {TEMPLATE} --rootfs local-lvm:4 --unprivileged 1"


def test_load_extensions_publishes_node_shell_and_guest_port(
    sim_factory: Callable[..., SimServer], tmp_path: Path
) -> None:
    sim = sim_factory(extensions=load_extensions(), state_dir=tmp_path / "s")
    written = json.loads((tmp_path / "s" / "endpoint.json").read_text())
    shell = written["node_shell"]
    assert shell["host"] == "127.0.0.1" and shell["user"] == "root"
    assert shell["host_public_key"].startswith("ssh-ed25519 ")
    assert Path(shell["client_private_key_path"]).is_file()
    assert isinstance(written["guest_ssh_port"], int)
    sim.restart()  # the host key persists, so a pinned client keeps working
    assert sim.endpoint["node_shell"]["host_public_key"] == shell["host_public_key"]


def test_only_the_simulator_client_key_logs_in(guest_sim: SimServer, tmp_path: Path) -> None:
    ensure_ed25519_key(tmp_path / "other", "other")
    with pytest.raises(paramiko.AuthenticationException):
        NodeShellClient.connect(guest_sim.endpoint["node_shell"], key_path=str(tmp_path / "other"))


def test_pct_errors_are_pve_cli_dies(node: NodeShellClient) -> None:
    ran = node.run(f"pct exec {BUILD_VMID} -- hostname")
    assert ran.code == 255 and "lxc/9100.conf' does not exist" in ran.err
    ok(node.run(CREATE))
    ran = node.run(f"pct exec {BUILD_VMID} -- hostname")
    assert (ran.code, ran.err) == (255, f"container '{BUILD_VMID}' not running!\n")
    assert node.run(CREATE).err == f"CT {BUILD_VMID} already exists on node 'pve-sim'\n"
    ran = node.run(f"pct set {BUILD_VMID} --hostname 'bad name'")
    assert ran.code == 255 and ran.err.startswith("400 Parameter verification failed.\nhostname:")
    assert ok(node.run(f"pct status {BUILD_VMID}")).out == "status: stopped\n"
    assert node.run("qm list").code == 127
    assert "pathname expansion" in node.run("pct exec 9100 -- rm -f /etc/ssh/ssh_host_*").err


def test_exec_passes_exit_codes_and_stdin_through(node: NodeShellClient) -> None:
    ok(node.run(CREATE))
    ok(node.run(f"pct start {BUILD_VMID}"))
    assert node.pct_exec(BUILD_VMID, "test", "-e", "/nope").code == 1
    assert node.pct_exec(BUILD_VMID, "sh", "-c", "cat > /root/f", stdin="data\n").code == 0
    assert ok(node.pct_exec(BUILD_VMID, "cat", "/root/f")).out == "data\n"
    ok(node.run(f"pct shutdown {BUILD_VMID}"))
    ok(node.run(f"pct start {BUILD_VMID}"))
    assert ok(node.pct_exec(BUILD_VMID, "cat", "/root/f")).out == "data\n"
    ok(node.run(f"pct stop {BUILD_VMID}"))
    ok(node.run(f"pct destroy {BUILD_VMID} --purge"))
    assert node.run(f"pct status {BUILD_VMID}").code == 255


def test_guest_state_survives_a_simulator_restart(
    guest_sim: SimServer, node_factory: Callable[[SimServer], NodeShellClient]
) -> None:
    node = node_factory(guest_sim)
    ok(node.run(CREATE))
    ok(node.run(f"pct start {BUILD_VMID}"))
    machine_id = ok(node.pct_exec(BUILD_VMID, "cat", "/etc/machine-id")).out
    guest_sim.restart()
    node = node_factory(guest_sim)
    assert ok(node.pct_exec(BUILD_VMID, "cat", "/etc/machine-id")).out == machine_id
    assert ok(node.pct_exec(BUILD_VMID, "systemctl", "is-active", "ssh")).out == "active\n"


def test_two_port_reservations_never_share_a_port() -> None:
    first, sock1 = reserve_port(0)
    second, sock2 = reserve_port(0)
    try:
        assert first != second and 22 not in (first, second)
    finally:
        for sock in (sock1, sock2):
            assert sock is not None
            sock.close()
    assert reserve_port(2222) == (2222, None)


def test_cli_validation_accepts_endpoints_that_take_no_parameters() -> None:
    # GET /version and GET /nodes declare an empty parameter dict: a valid spec, not a miss.
    assert nodecli._validated("GET", "/version", {}) == {}
    assert nodecli._validated("GET", "/nodes", {}) == {}
    with pytest.raises(ParamError) as caught:
        nodecli._validated("GET", "/version", {"verbose": "1"})
    assert caught.value.errors == {"verbose": UNDEFINED_MESSAGE}
    # An endpoint outside the schema extract is still found in the second table.
    checked = nodecli._validated("GET", "/nodes/{node}/tasks", {"node": "pve-sim"})
    assert checked == {"node": "pve-sim"}
    with pytest.raises(KeyError):
        nodecli._validated("GET", "/nowhere", {})
