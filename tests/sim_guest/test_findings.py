"""The seed's findings F1-F7 reproduced the way its runbook produced them.

Root steps run over the node shell (paramiko, pinned host key); per-customer steps run over
the API with the FelhomAgent token (proxmoxer). Each finding has a named test.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from proxmoxer.core import ResourceException

from felhom_provider.sim.server import SimServer
from tests.conftest import proxmox_for
from tests.sim_guest.nodeshell_client import NodeShellClient
from tests.sim_guest.runbook import (
    BUILD_VMID,
    TEMPLATE,
    Golden,
    build_golden,
    conf_of,
    handshake_fingerprint,
    hwaddr,
    lease_of,
    ok,
    restore,
    start,
    wait_task,
)

KEY_TYPES = {"ed25519": "ssh-ed25519", "ecdsa": "ecdsa-sha2-nistp256", "rsa": "rsa-sha2-512"}


@pytest.fixture
def golden(node: NodeShellClient) -> Golden:
    return build_golden(node)


def test_golden_recipe_archive_carries_features_unprivileged_mac_and_hostname(
    guest_sim: SimServer, api: Any, golden: Golden
) -> None:
    text = api.nodes(guest_sim.state.node).vzdump.extractconfig.get(volume=golden.archive)
    conf = conf_of(text)
    assert set(conf["features"].split(",")) == {"nesting=1", "keyctl=1"}
    assert conf["unprivileged"] == "1"
    assert hwaddr(conf["net0"]) == golden.mac and golden.mac.startswith("BC:24:11:")
    assert conf["hostname"] == "felhom-golden"
    assert "template" not in conf


def test_keyctl_is_root_only_so_the_token_cannot_do_the_build_step(
    guest_sim: SimServer, api: Any, node: NodeShellClient
) -> None:
    ok(node.run(f"pct create {BUILD_VMID} {TEMPLATE} --rootfs local-lvm:4 --unprivileged 1"))
    with pytest.raises(ResourceException) as err:
        api.nodes(guest_sim.state.node).lxc(BUILD_VMID).config.put(features="nesting=1,keyctl=1")
    assert err.value.status_code == 403
    ok(node.run(f"pct set {BUILD_VMID} --features nesting=1,keyctl=1"))


def test_f1_restore_keeps_the_archived_mac_and_two_such_guests_collide(
    guest_sim: SimServer, api: Any, node: NodeShellClient, golden: Golden
) -> None:
    n = guest_sim.state.node
    for vmid in (9101, 9102):
        restore(api, n, golden, vmid)
        assert hwaddr(api.nodes(n).lxc(vmid).config.get()["net0"]) == golden.mac
        start(api, n, vmid)
    assert lease_of(api, n, 9101) == lease_of(api, n, 9102)  # one MAC, one DHCP lease
    collisions = guest_sim.state.dhcp.collisions
    assert any(c["mac"] == golden.mac and c["vmids"] == [9101, 9102] for c in collisions)


def test_f2_hostname_reset_host_side_propagates_into_the_guest_at_boot(
    guest_sim: SimServer, api: Any, node: NodeShellClient, golden: Golden
) -> None:
    n = guest_sim.state.node
    restore(api, n, golden, 9101)
    assert api.nodes(n).lxc(9101).config.get()["hostname"] == "felhom-golden"
    api.nodes(n).lxc(9101).config.put(hostname="felhom-spike-9101")
    start(api, n, 9101)
    assert ok(node.pct_exec(9101, "hostname")).out == "felhom-spike-9101\n"
    assert ok(node.pct_exec(9101, "cat", "/etc/hostname")).out == "felhom-spike-9101\n"


def test_f3_host_keys_not_regenerated_ssh_failed_machine_id_regenerated_unique(
    guest_sim: SimServer, api: Any, node: NodeShellClient, golden: Golden
) -> None:
    n = guest_sim.state.node
    ids = []
    for vmid in (9101, 9102):
        restore(api, n, golden, vmid, net0="name=eth0,bridge=vmbr0,ip=dhcp")
        start(api, n, vmid)
        active = node.pct_exec(vmid, "systemctl", "is-active", "ssh")
        assert (active.code, active.out) == (3, "failed\n")
        enabled = node.pct_exec(vmid, "systemctl", "is-enabled", "ssh")
        assert (enabled.code, enabled.out) == (0, "enabled\n")  # enabled but failed (F3)
        status = node.pct_exec(vmid, "systemctl", "status", "ssh").out
        assert "; enabled;" in status and "Active: failed (Result: exit-code)" in status
        assert node.pct_exec(vmid, "test", "-e", "/etc/ssh/ssh_host_ed25519_key").code == 1
        machine_id = ok(node.pct_exec(vmid, "cat", "/etc/machine-id")).out.strip()
        assert re.fullmatch(r"[0-9a-f]{32}", machine_id)
        ids.append(machine_id)
    assert ids[0] != ids[1]
    keygen = ok(node.pct_exec(9101, "ssh-keygen", "-A"))
    assert keygen.out == "ssh-keygen: generating new host keys: RSA ECDSA ED25519 \n"
    ok(node.pct_exec(9101, "systemctl", "restart", "ssh"))
    assert ok(node.pct_exec(9101, "systemctl", "is-active", "ssh")).out == "active\n"
    line = ok(node.pct_exec(9101, "ssh-keygen", "-l", "-f", "/etc/ssh/ssh_host_ed25519_key")).out
    assert line.endswith(" root@felhom-golden (ED25519)\n")  # hostname not reset in this run


def test_f4_config_put_right_after_resize_gets_lock_timeout_then_succeeds(
    slow_resize_sim: SimServer, node_factory: Callable[[SimServer], NodeShellClient]
) -> None:
    golden = build_golden(node_factory(slow_resize_sim))
    api = proxmox_for(slow_resize_sim, "agent")
    n = slow_resize_sim.state.node
    restore(api, n, golden, 9101)
    upid = api.nodes(n).lxc(9101).resize.put(disk="rootfs", size="+2G")
    with pytest.raises(ResourceException) as err:
        api.nodes(n).lxc(9101).config.put(mp0="local-lvm:1,mp=/mnt/spike-test")
    assert err.value.status_code == 500
    assert err.value.content == "can't lock file '/run/lock/lxc/pve-config-9101.lock' - got timeout"
    slow_resize_sim.state.advance(2.0)
    assert wait_task(api, n, upid) == "OK"
    api.nodes(n).lxc(9101).config.put(mp0="local-lvm:1,mp=/mnt/spike-test")
    conf = api.nodes(n).lxc(9101).config.get()
    assert "mp=/mnt/spike-test" in conf["mp0"] and "size=10G" in conf["rootfs"]


def test_f5_f6_docker_runs_in_the_restored_guest_with_overlayfs(
    guest_sim: SimServer, api: Any, node: NodeShellClient, golden: Golden
) -> None:
    n = guest_sim.state.node
    restore(api, n, golden, 9101, net0="name=eth0,bridge=vmbr0,ip=dhcp")
    start(api, n, 9101)
    assert ok(node.pct_exec(9101, "systemctl", "is-active", "docker")).out == "active\n"
    assert (
        "Hello from Docker!" in ok(node.pct_exec(9101, "docker", "run", "--rm", "hello-world")).out
    )
    driver = ok(node.pct_exec(9101, "docker", "info", "--format", "{{.Driver}}"))
    assert driver.out == "overlayfs\n"


def test_f7_fresh_mac_gets_a_fresh_unique_lease(
    guest_sim: SimServer, api: Any, node: NodeShellClient, golden: Golden
) -> None:
    n = guest_sim.state.node
    leases, macs = [], []
    for vmid in (9101, 9102):
        restore(api, n, golden, vmid)
        api.nodes(n).lxc(vmid).config.put(net0="name=eth0,bridge=vmbr0,ip=dhcp")  # omit hwaddr
        mac = hwaddr(api.nodes(n).lxc(vmid).config.get()["net0"])
        assert mac != golden.mac and mac.startswith("BC:24:11:")
        start(api, n, vmid)
        leases.append(lease_of(api, n, vmid))
        macs.append(mac)
        lease_file = ok(node.pct_exec(vmid, "cat", "/var/lib/dhcp/dhclient.eth0.leases")).out
        assert f"fixed-address {leases[-1]};" in lease_file
    assert leases[0] != leases[1] and macs[0] != macs[1]
    assert all(leases[i].startswith("127.77.") for i in range(2))
    assert guest_sim.state.dhcp.collisions == []


def test_guest_sshd_handshake_shows_the_fingerprints_ssh_keygen_reports_inside(
    guest_sim: SimServer, api: Any, node: NodeShellClient, golden: Golden
) -> None:
    n = guest_sim.state.node
    port = int(guest_sim.endpoint["guest_ssh_port"])
    restore(api, n, golden, 9101, net0="name=eth0,bridge=vmbr0,ip=dhcp")
    start(api, n, 9101)
    address = lease_of(api, n, 9101)
    with pytest.raises(OSError):  # ssh.service failed: nothing listens
        handshake_fingerprint(address, port, "ssh-ed25519")
    ok(node.pct_exec(9101, "sh", "-c", "ssh-keygen -A && systemctl restart ssh"))
    for name, wire in KEY_TYPES.items():
        inside = ok(node.pct_exec(9101, "ssh-keygen", "-l", "-f", f"/etc/ssh/ssh_host_{name}_key"))
        assert handshake_fingerprint(address, port, wire) == inside.out.split()[1]
    assert wait_task(api, n, api.nodes(n).lxc(9101).status.stop.post()) == "OK"
    with pytest.raises(OSError):  # the sshd stops with the guest
        handshake_fingerprint(address, port, "ssh-ed25519")


def test_golden_with_baked_keygen_unit_yields_active_ssh_with_unique_keys(
    guest_sim: SimServer, api: Any, node: NodeShellClient
) -> None:
    golden = build_golden(node, keygen_unit=True)
    n = guest_sim.state.node
    port = int(guest_sim.endpoint["guest_ssh_port"])
    prints = []
    for vmid in (9101, 9102):
        restore(api, n, golden, vmid, net0="name=eth0,bridge=vmbr0,ip=dhcp")
        start(api, n, vmid)
        assert ok(node.pct_exec(vmid, "systemctl", "is-active", "ssh")).out == "active\n"
        prints.append(handshake_fingerprint(lease_of(api, n, vmid), port, "ssh-ed25519"))
    assert prints[0] != prints[1]


def test_unsupported_command_in_pct_exec_exits_127_and_says_so(
    guest_sim: SimServer, node: NodeShellClient
) -> None:
    ok(node.run(f"pct create {BUILD_VMID} {TEMPLATE} --rootfs local-lvm:4 --unprivileged 1"))
    ok(node.run(f"pct start {BUILD_VMID}"))
    ran = node.pct_exec(BUILD_VMID, "top", "-b", "-n", "1")
    assert ran.code == 127
    assert "'top' is not imitated by the simulator" in ran.err
