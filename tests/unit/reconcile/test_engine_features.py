"""GuestEngine features of the field table against the in-memory PVE: boot order, SSH keys,
static network, protection, host-key modes, live updates and deferred restarts, import."""

from __future__ import annotations

from typing import Any

import pytest

from felhom_provider.errors import HostKeyError, OwnershipError
from felhom_provider.reconcile.access import AUTHORIZED_KEYS, HEADER
from felhom_provider.reconcile.model import marker_for

from .fakes import FakePve, FakeShell
from .test_engine_fakes import ED25519, FPS, KEYS, OWNER, engine, spec

OPERATOR = f"ssh-ed25519 {ED25519} operator@felhom"
CUSTOMER = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTY= customer@acme"
PUB_PATH = "/etc/ssh/ssh_host_ed25519_key.pub"


def restore_overrides(pve: FakePve) -> dict[str, Any]:
    return next(dict(c[1]) for c in pve.calls if c[0] == "restore_params")


def with_params(pve: FakePve) -> FakePve:
    """Record the restore call's overrides (the fake keeps only the VMID otherwise)."""
    original = pve.restore_lxc

    def restore(vmid: int, archive: str, overrides: Any) -> str:
        pve.calls.append(("restore_params", overrides))
        return original(vmid, archive, overrides)

    pve.restore_lxc = restore  # type: ignore[method-assign]
    return pve


def test_restore_sets_boot_order_dns_pool_and_protection_comes_last() -> None:
    pve = with_params(FakePve())
    state = engine(pve).create(
        spec(
            startup={"order": 3, "up": 20},
            nameserver=("127.0.0.53",),
            searchdomain="example.org",
            pool="customers",
            protection=True,
        )
    )
    params = restore_overrides(pve)
    # A restore copies what it does not set from the archive: the build CT had onboot 0.
    assert params["onboot"] == 1 and params["startup"] == "order=3,up=20"
    assert params["nameserver"] == "127.0.0.53" and params["searchdomain"] == "example.org"
    assert params["pool"] == "customers" and "protection" not in params
    assert pve.mutating()[-1] == "put_config" and pve.cts[state.vmid]["protection"] == "1"
    assert state.settings["onboot"] is True and state.settings["protection"] is True


def test_deliberate_destroy_clears_protection_first() -> None:
    pve = FakePve()
    eng = engine(pve)
    state = eng.create(spec(protection=True))
    pve.calls.clear()
    eng.delete(state.vmid, OWNER)
    assert pve.mutating() == ["put_config", "stop", "destroy"] and pve.cts == {}


def test_static_guest_skips_the_lease_wait() -> None:
    pve = with_params(FakePve(leases=False))
    state = engine(pve).create(spec(network={"ip": "127.0.60.5/24", "gw": "127.0.60.1"}))
    assert state.ipv4 == "127.0.60.5"
    assert "interfaces" not in [c[0] for c in pve.calls]
    net0 = restore_overrides(pve)["net0"]
    assert "ip=127.0.60.5/24" in net0 and "gw=127.0.60.1" in net0 and "hwaddr" not in net0


def test_pinned_mac_and_vlan_reach_net0() -> None:
    pve = with_params(FakePve())
    state = engine(pve).create(
        spec(network={"ip": "dhcp", "mac": "BC:24:11:AA:00:01", "vlan": 20, "firewall": True})
    )
    assert state.mac == "BC:24:11:AA:00:01"
    assert state.settings["network"] == {
        "ip": "dhcp",
        "mac": "BC:24:11:AA:00:01",
        "vlan": 20,
        "firewall": True,
    }


def test_keys_written_with_modes_verified_and_removed_keys_gone() -> None:
    pve, shell = FakePve(), FakeShell()
    eng = engine(pve, shell=shell)
    both = spec(operator_ssh_authorized_keys=(OPERATOR,), ssh_authorized_keys=(CUSTOMER,))
    state = eng.create(both)
    vmid = state.vmid
    assert shell.files[(vmid, AUTHORIZED_KEYS)] == f"{HEADER}\n{OPERATOR}\n{CUSTOMER}\n"
    assert shell.modes[(vmid, "/root/.ssh")] == "0700"
    assert shell.modes[(vmid, AUTHORIZED_KEYS)] == "0600"
    eng.update(vmid, spec(operator_ssh_authorized_keys=(OPERATOR,)), state)
    assert CUSTOMER not in shell.files[(vmid, AUTHORIZED_KEYS)]
    assert "shutdown" not in pve.mutating(), "keys change in place"


def test_node_shell_mode_needs_no_network_path_to_the_guest() -> None:
    def unreachable(host: str, port: int, timeout: float) -> dict[str, str]:
        raise HostKeyError(f"no route to {host}")

    pve, shell = FakePve(), FakeShell()
    eng = engine(pve, shell=shell, keys=unreachable)
    shell.on_exec = lambda vmid, argv: shell.files.setdefault(
        (vmid, PUB_PATH), KEYS["ssh-ed25519"] + " root@acme\n"
    )
    state = eng.create(spec(host_key_check="nodeShell"))
    assert state.host_public_keys == {"ssh-ed25519": KEYS["ssh-ed25519"]}
    assert state.host_keys == {"ssh-ed25519": FPS["ssh-ed25519"]}


def test_both_mode_fails_loudly_when_the_address_offers_other_keys() -> None:
    pve, shell = FakePve(), FakeShell()
    other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG90aGVyLWtleS0wMDAwMDAwMDAwMDAwMDAwMDAwMDA="
    shell.on_exec = lambda vmid, argv: shell.files.setdefault((vmid, PUB_PATH), other + "\n")
    with pytest.raises(HostKeyError, match="does not hold"):
        engine(pve, shell=shell).create(spec(host_key_check="both"))
    assert pve.cts == {}, "the create is rolled back"


def test_memory_change_on_a_running_guest_does_not_restart_it() -> None:
    pve, log = FakePve(), list[str]()
    eng = engine(pve, log=log)
    state = eng.create(spec())
    pve.calls.clear()
    new = eng.update(state.vmid, spec(memory=4096, swap=1024, cores=3), state)
    assert pve.mutating() == ["put_config"]
    assert (new.memory, new.swap, new.cores, new.status) == (4096, 1024, 3, "running")
    assert not any("restarted" in line for line in log)


def test_hostname_with_deferred_restarts_stays_pending_until_allowed() -> None:
    pve, log = FakePve(), list[str]()
    eng = engine(pve, log=log)
    state = eng.create(spec())
    pve.calls.clear()
    deferred = eng.update(state.vmid, spec(hostname="acme-shop", restarts="deferred"), state)
    assert pve.mutating() == ["put_config"] and deferred.status == "running"
    assert deferred.pending_restart == ("hostname",)
    assert any("restart deferred" in line and "hostname" in line for line in log)
    pve.calls.clear()
    now = eng.update(state.vmid, spec(hostname="acme-shop"), deferred)
    assert pve.mutating() == ["shutdown", "start"] and now.pending_restart == ()


def test_concurrent_edit_is_re_planned_not_overwritten() -> None:
    pve = FakePve()
    eng = engine(pve)
    state = eng.create(spec())
    original, edits = pve.put_config, {"n": 0}

    def put_config(vmid: int, params: Any = None, **kw: Any) -> None:
        if edits["n"] == 0:  # someone edits the description in the UI right now
            edits["n"] += 1
            pve.cts[vmid]["description"] += "note from the UI\n"
        original(vmid, params, **kw)

    pve.put_config = put_config  # type: ignore[method-assign,assignment]
    eng.update(state.vmid, spec(memory=3072), state)
    cfg = pve.cts[state.vmid]
    assert cfg["memory"] == "3072" and "note from the UI" in cfg["description"]


def test_pool_is_moved_in_place() -> None:
    pve = FakePve()
    eng = engine(pve)
    state = eng.create(spec())
    eng.update(state.vmid, spec(pool="gold"), state)
    assert state.vmid in pve.pools["gold"]


def test_import_adopts_a_hand_made_ct_without_restarting_it() -> None:
    pve = FakePve()
    pve.cts[300] = {
        "hostname": "legacy",
        "cores": "2",
        "memory": "1024",
        "swap": "512",
        "net0": "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:03:00,ip=dhcp,type=veth",
        "rootfs": "local-lvm:vm-300-disk-0,size=8G",
        "description": "made by hand\n",
        "unprivileged": "1",
    }
    pve.running.add(300)
    state = engine(pve).create(spec(import_=300, hostname="legacy", mounts=()))
    assert state.vmid == 300 and state.hostname == "legacy" and state.status == "running"
    assert pve.mutating() == ["put_config"], "marker and tags only: no restore, no restart"
    assert pve.cts[300]["description"].startswith(marker_for(OWNER))
    assert "made by hand" in pve.cts[300]["description"]


def test_import_refuses_a_ct_owned_by_someone_else() -> None:
    pve = FakePve()
    pve.cts[300] = {"hostname": "x", "description": marker_for("other/stack/x") + "\n"}
    with pytest.raises(OwnershipError, match="another stack"):
        engine(pve).create(spec(import_=300))
    assert pve.mutating() == []


def test_refresh_of_a_stopped_guest_reads_no_keys() -> None:
    pve = FakePve()
    eng = engine(pve)
    state = eng.create(spec())
    pve.running.discard(state.vmid)
    seen = eng.read(state.vmid, OWNER)
    assert seen is not None and seen.status == "stopped"
    assert seen.host_public_keys == {} and seen.ipv4 is None
