"""Seed findings F1-F7 and design §2 decisions, shown in the product's behaviour."""

from __future__ import annotations

import pytest

from felhom_provider.errors import PermissionDeniedError, TaskFailedError, VerificationError
from felhom_provider.pve.props import parse_pct_conf
from felhom_provider.reconcile import GoldenEngine, GoldenSpec
from felhom_provider.reconcile.golden_steps import KEYGEN_UNIT_PATH
from felhom_provider.reconcile.plan import check_archive_config
from tests.engine.conftest import TEMPLATE, Env


def test_f1_every_guest_gets_a_fresh_mac_and_no_l2_collision(env: Env) -> None:
    engine = env.engine()
    states = [engine.create(env.spec(f"guest-{i}")) for i in range(3)]
    macs = {s.mac for s in states}
    assert len(macs) == 3 and env.golden.golden_mac not in macs
    assert all(mac.startswith("BC:24:11:") for mac in macs)
    assert env.sim.audit()["l2_collisions"] == []


def test_f2_hostname_is_set_host_side_and_propagates_into_the_guest(env: Env) -> None:
    state = env.engine().create(env.spec("acme-shop"))
    assert env.golden.golden_hostname == "felhom-golden"
    assert state.hostname == "acme-shop"
    assert env.guest_exec(state.vmid, "hostname").strip() == "acme-shop"
    # The one PUT takes the never-started mark out of the description; no hostname fix-up.
    assert env.client.stats.count("PUT", "/nodes/{node}/lxc/{vmid}/config") == 1


def test_f3_machine_id_and_host_keys_are_unique_without_a_node_shell(env: Env) -> None:
    # Token only (shell=None): the baked unit makes the keys, systemd the machine-id.
    engine = env.engine(shell=None)
    a, b = engine.create(env.spec("guest-a")), engine.create(env.spec("guest-b"))
    assert a.host_keys and b.host_keys
    assert set(a.host_keys.values()).isdisjoint(b.host_keys.values())
    ids = [env.guest_exec(s.vmid, "cat", "/etc/machine-id").strip() for s in (a, b)]
    assert all(len(i) == 32 for i in ids) and ids[0] != ids[1]
    assert not any("regenerating" in line for line in env.log)


def test_f3_golden_bakes_the_keygen_unit_and_ships_without_keys(env: Env) -> None:
    state = env.engine().create(env.spec())
    unit = env.guest_exec(state.vmid, "cat", KEYGEN_UNIT_PATH)
    assert "ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key" in unit
    assert "Before=ssh.service" in unit and "ExecStart=/usr/bin/ssh-keygen -A" in unit
    # The guest's keys differ from the golden build CT's (they were removed before vzdump).
    assert env.golden.openssh_version == "1:10.0p1-7"


def test_f5_f6_golden_records_docker_and_keyctl_works_after_restore(env: Env) -> None:
    assert env.golden.docker_driver == "overlayfs"  # F6
    assert env.golden.features == "keyctl=1,nesting=1" and env.golden.unprivileged
    state = env.engine().create(env.spec())
    out = env.guest_exec(state.vmid, "docker", "run", "--rm", "hello-world")
    assert "Hello from Docker!" in out  # F5: keyctl functional in the restored guest


def test_f7_lease_is_fresh_and_matches_the_guests_mac(env: Env) -> None:
    engine = env.engine()
    a, b = engine.create(env.spec("guest-a")), engine.create(env.spec("guest-b"))
    assert a.ipv4 and b.ipv4 and a.ipv4 != b.ipv4
    leases = env.sim.audit()["leases"]
    assert {a.ipv4, b.ipv4} <= {str(v) for v in leases.values()} | set(leases)


def test_decision_3_one_restore_with_every_override_and_two_mutations(env: Env) -> None:
    state = env.engine().create(env.spec(rootfs_gib=12, cores=3, memory=1536, swap=256))
    mutating = env.client.stats.mutating_by_endpoint()
    # Restore and start, plus the PUT that takes the never-started mark out before the start.
    assert sum(mutating.values()) == 3
    assert (state.rootfs_gib, state.cores, state.memory, state.swap) == (12, 3, 1536, 256)
    config = env.client.get_config(state.vmid)
    assert "mp=/mnt/data" in config["mp0"] and config["hostname"] == "acme-web"


def test_decision_5_identity_clean_items_are_gone_in_a_restored_guest(env: Env) -> None:
    state = env.engine().create(env.spec())
    # Left by the build (apt, dpkg, shell, DHCP client) and not recreated by a boot.
    for path in (
        "/root/.bash_history",
        "/var/log/apt/history.log",
        "/var/log/dpkg.log",
        "/var/cache/apt/archives/docker-ce.deb",
    ):
        assert env.shell.exec(state.vmid, ["test", "-e", path]).exit_code != 0, path
    lists = env.shell.exec(state.vmid, ["sh", "-c", "cat /var/lib/apt/lists/*Packages*"])
    assert lists.exit_code != 0  # the glob matched nothing: lists were removed
    assert env.shell.exec(state.vmid, ["test", "-L", "/var/lib/dbus/machine-id"]).exit_code == 0
    # Debian ships no /etc/hostname in the archive; PVE writes the guest's own at start.
    assert env.guest_exec(state.vmid, "cat", "/etc/hostname").strip() == "acme-web"


def test_decision_6_token_cannot_set_keyctl(env: Env) -> None:
    state = env.engine().create(env.spec())
    with pytest.raises(PermissionDeniedError):
        env.client.put_config(state.vmid, features="nesting=1,keyctl=1,fuse=1")


def test_decision_7_archive_is_verified_before_restore(env: Env) -> None:
    cfg = check_archive_config(parse_pct_conf(env.client.extractconfig(env.golden.archive)))
    assert cfg.problems == () and cfg.mac == env.golden.golden_mac
    # An archive without keyctl (a token-made CT) is refused before anything changes.
    upid = env.client.create_lxc(
        900, {"ostemplate": TEMPLATE, "rootfs": "local-lvm:4", "hostname": "plain",
              "net0": "name=eth0,bridge=vmbr0,ip=dhcp"},
    )  # fmt: skip
    env.client.wait_task(upid, timeout_s=30)
    env.client.wait_task(env.client.vzdump(900, "local"), timeout_s=30)
    plain = next(i["volid"] for i in env.client.storage_content("local", "backup", 900))
    env.client.stats.reset()
    with pytest.raises(VerificationError, match="keyctl"):
        env.engine().create(env.spec(archive=plain))
    assert env.client.stats.mutating == 0


def test_decision_9_concurrent_creates_get_distinct_vmids(env: Env) -> None:
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

    engine = env.engine(restores_per_node=2)
    specs = [env.spec(f"guest-{i}") for i in range(5)]
    with ThreadPoolExecutor(max_workers=5) as pool:
        states = list(pool.map(engine.create, specs))
    assert len({s.vmid for s in states}) == 5
    assert env.orphans(owners={s.owner for s in specs}) == []


def test_decision_10_adopts_a_half_made_guest_instead_of_duplicating(env: Env) -> None:
    engine = env.engine()
    spec = env.spec()
    first = engine.create(spec)
    env.client.wait_task(env.client.stop(first.vmid), timeout_s=30)  # killed before start
    env.client.stats.reset()
    again = engine.create(spec)
    assert again.vmid == first.vmid and again.mac == first.mac
    assert env.client.stats.count("POST", "/nodes/{node}/lxc") == 0
    assert len(env.cts()) == 1 and any("adopting" in line for line in env.log)


def test_golden_rollback_destroys_the_build_ct(env: Env) -> None:
    env.sim.add_task_fault("vzstop", "command 'lxc-stop -n 100 --kill' failed: exit code 1")
    spec = GoldenSpec(name="g2", owner="felhom/test/g2", node=env.node, template=TEMPLATE)
    from tests.engine.conftest import node_shell  # noqa: PLC0415

    with pytest.raises(TaskFailedError, match="lxc-stop") as info:
        GoldenEngine(env.client, node_shell(env.sim), env.log.append).build(spec)
    assert env.cts() == []
    assert info.value.journal is not None and "create" in info.value.journal.steps()


def test_golden_read_and_delete(env: Env) -> None:
    engine = GoldenEngine(env.client, env.shell)
    read = engine.read(env.golden.archive)
    assert read is not None and read.golden_mac == env.golden.golden_mac
    assert read.size_bytes == env.golden.size_bytes
    # The build's own observations come back from the archive's notes: no drift on refresh.
    assert read == env.golden
    assert read.docker_driver == "overlayfs" and read.openssh_version
    engine.delete(env.golden.archive)
    assert engine.read(env.golden.archive) is None
    engine.delete(env.golden.archive)  # gone counts as deleted
