"""Operator features against the simulator: boot order, protection, SSH keys over the node
shell, host keys read inside the guest, live updates without restart, import, the golden's
reserved VMID range."""

from __future__ import annotations

from typing import Any

import pytest

from felhom_provider.errors import HostKeyError, OwnershipError, PermissionDeniedError
from felhom_provider.reconcile.access import AUTHORIZED_KEYS, HEADER
from felhom_provider.reconcile.model import marker_for
from felhom_provider.sim.auth import AGENT_TOKEN, AGENT_USER, Acl
from tests.engine.conftest import Env

OPERATOR = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGZlbGhvbS10ZXN0LWtleS0wMDAwMDAwMDAwMDAwMDAw op@felhom"
)
CUSTOMER = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTY= customer@acme"


def unreachable(host: str, port: int, timeout: float) -> dict[str, str]:
    """A runner with no network path to the guests."""
    raise HostKeyError(f"no route to {host}:{port}")


def test_the_build_ct_took_a_reserved_vmid(env: Env) -> None:
    vmid = int(env.golden.archive.split("vzdump-lxc-", 1)[1].split("-", 1)[0])
    assert 9000 <= vmid <= 9099


def test_boot_order_protection_and_a_deliberate_destroy(env: Env) -> None:
    engine = env.engine()
    spec = env.spec(startup={"order": 2, "up": 5}, protection=True)
    state = engine.create(spec)
    cfg = env.client.get_config(state.vmid)
    assert str(cfg["onboot"]) == "1" and cfg["startup"] == "order=2,up=5"
    assert str(cfg["protection"]) == "1"
    engine.delete(state.vmid, spec.owner)
    assert env.cts() == []


def test_keys_reach_the_guest_and_a_removed_key_is_gone(env: Env) -> None:
    engine = env.engine()
    spec = env.spec(operator_ssh_authorized_keys=(OPERATOR,), ssh_authorized_keys=(CUSTOMER,))
    state = engine.create(spec)
    text = env.guest_exec(state.vmid, "cat", AUTHORIZED_KEYS)
    assert text == f"{HEADER}\n{OPERATOR}\n{CUSTOMER}\n"
    state = engine.update(state.vmid, env.spec(operator_ssh_authorized_keys=(OPERATOR,)), state)
    assert CUSTOMER not in env.guest_exec(state.vmid, "cat", AUTHORIZED_KEYS)


def test_node_shell_mode_brings_a_guest_up_without_reaching_it(env: Env) -> None:
    state = env.engine(probe=unreachable).create(env.spec(host_key_check="nodeShell"))
    files = env.guest_exec(state.vmid, "sh", "-c", "cat /etc/ssh/ssh_host_*_key.pub")
    assert state.host_public_keys and all(line in files for line in state.host_public_keys.values())


def test_both_mode_agrees_with_the_handshake(env: Env) -> None:
    state = env.engine().create(env.spec(host_key_check="both"))
    handshake = env.engine().keys.probe_once(str(state.ipv4))
    assert handshake == state.host_public_keys


def test_memory_change_on_a_running_guest_does_not_restart_it(env: Env) -> None:
    engine = env.engine()
    state = engine.create(env.spec())
    env.client.stats.reset()
    state = engine.update(state.vmid, env.spec(memory=2048, swap=256, cores=3), state)
    assert (state.memory, state.swap, state.cores, state.status) == (2048, 256, 3, "running")
    for action in ("shutdown", "stop", "start"):
        assert env.client.stats.count("POST", f"/nodes/{{node}}/lxc/{{vmid}}/status/{action}") == 0


def test_hostname_with_deferred_restarts_leaves_it_running(env: Env) -> None:
    engine = env.engine()
    state = engine.create(env.spec())
    env.client.stats.reset()
    state = engine.update(state.vmid, env.spec(hostname="acme-shop", restarts="deferred"), state)
    assert state.status == "running" and state.pending_restart == ("hostname",)
    assert env.client.stats.count("POST", "/nodes/{node}/lxc/{vmid}/status/shutdown") == 0


def _hand_made(env: Env, vmid: int, description: str) -> None:
    overrides: dict[str, Any] = {
        "hostname": "legacy",
        "net0": "name=eth0,bridge=vmbr0,ip=dhcp",
        "rootfs": "local-lvm:10",
        "mp0": "local-lvm:1,mp=/mnt/data",
        "cores": 2,
        "memory": 1024,
        "swap": 512,
        "unprivileged": 1,
        "onboot": 1,
        "description": description,
    }
    env.client.wait_task(env.client.restore_lxc(vmid, env.golden.archive, overrides), 120)
    env.client.wait_task(env.client.start(vmid), 120)


def test_import_adopts_a_hand_made_ct_and_a_second_update_is_a_no_op(env: Env) -> None:
    _hand_made(env, 300, "made by hand\n")
    engine = env.engine()
    spec = env.spec(import_=300, hostname="legacy")
    env.client.stats.reset()
    state = engine.create(spec)
    assert state.vmid == 300 and state.status == "running" and state.host_public_keys
    assert env.client.stats.count("POST", "/nodes/{node}/lxc/{vmid}/status/start") == 0
    assert env.client.get_config(300)["description"].startswith(marker_for(spec.owner))
    env.client.stats.reset()
    engine.update(300, spec, state)
    assert env.client.stats.count("PUT", "/nodes/{node}/lxc/{vmid}/config") == 0


def test_import_refuses_another_owners_ct(env: Env) -> None:
    _hand_made(env, 301, marker_for("felhom/other/x") + "\n")
    with pytest.raises(OwnershipError):
        env.engine().create(env.spec(import_=301))


def test_static_guest_comes_up_with_exactly_that_config(env: Env) -> None:
    net = {"ip": "127.0.60.5/24", "gw": "127.0.60.1", "vlan": 20, "mac": "BC:24:11:AA:00:05"}
    state = env.engine().create(env.spec(network=net, host_key_check="nodeShell"))
    assert state.ipv4 == "127.0.60.5" and state.mac == "BC:24:11:AA:00:05"
    assert state.settings["network"] == net


def test_pool_needs_pool_allocate_and_then_holds_the_guest(env: Env) -> None:
    with pytest.raises(PermissionDeniedError, match=r"Pool\.Allocate") as info:
        env.engine().create(env.spec(pool="customers"))
    assert "/pool/customers" in str(info.value) and env.cts() == []
    # A privilege-separated token holds what both it and its user are granted (PVE).
    for ugid in (AGENT_USER, AGENT_TOKEN):
        env.sim.state.auth.acls.append(Acl("/pool", ugid, "Administrator"))
    env.client._call("POST", "/pools", None, {"poolid": "customers"})
    env.client._call("POST", "/pools", None, {"poolid": "gold"})
    engine = env.engine()
    state = engine.create(env.spec(pool="customers"))
    assert env.client.in_pool("customers", state.vmid)
    engine.update(state.vmid, env.spec(pool="gold"), state)
    assert env.client.in_pool("gold", state.vmid)
    assert not env.client.in_pool("customers", state.vmid)
