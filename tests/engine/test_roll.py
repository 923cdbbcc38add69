"""Rolling a new golden image onto guests with data, against the in-process simulator."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from felhom_provider.errors import FelhomError, VerificationError
from felhom_provider.pve import PveClient
from felhom_provider.reconcile import GoldenEngine, GoldenSpec
from felhom_provider.reconcile.model import GuestState
from felhom_provider.reconcile.roll import RollEngine
from felhom_provider.reconcile.rollout import RolloutGate, RolloutSettings
from felhom_provider.sim import backup
from felhom_provider.sim.guest import variants
from tests.engine.conftest import GOLDEN_OWNER, TEMPLATE, Env


class Killed(BaseException):
    """The provider died here: nothing of the engine's catches it."""


class KillingClient:
    """A PveClient whose ``method`` dies on its ``nth`` call, before or after it is sent."""

    def __init__(self, client: PveClient, method: str, nth: int, when: str) -> None:
        self._client, self._method, self._nth, self._when = client, method, nth, when
        self._count = 0

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._client, name)
        if name != self._method:
            return real

        def call(*args: Any, **kw: Any) -> Any:
            self._count += 1
            if self._count == self._nth and self._when == "before":
                raise Killed(f"{name} #{self._nth}")
            result = real(*args, **kw)
            if self._count == self._nth:
                if name != "put_config":  # let the task finish in PVE, as after a SIGKILL
                    self._client.wait_task(result, 60)
                raise Killed(f"after {name} #{self._nth}")
            return result

        return call


def roll_engine(env: Env, client: Any = None, *, shell: Any = "default") -> RollEngine:
    return RollEngine(
        client or env.client,
        env.shell if shell == "default" else shell,
        guest_ssh_port=int(env.sim.endpoint["guest_ssh_port"]),
        progress=env.log.append,
        clock=env.clock,
        sleep=env.clock.sleep,
        lease_timeout_s=30.0,
        hostkey_timeout_s=10.0,
        task_timeout_s=120.0,
        poll_s=0.5,
    )


def new_golden(env: Env, *, broken_docker: bool = False) -> str:
    spec = GoldenSpec(name="golden-2", owner=f"{GOLDEN_OWNER}-2", node=env.node, template=TEMPLATE)
    archive = GoldenEngine(env.client, env.shell).build(spec).archive
    if broken_docker:
        backup.rewrite_archive_guest(env.sim.state, archive, variants.break_docker)
    return archive


def guests(env: Env, n: int) -> list[GuestState]:
    """``n`` guests with a file in their data mount, protected in PVE."""
    engine, out = env.engine(), []
    for i in range(n):
        state = engine.create(env.spec(f"acme-{i}"))
        env.guest_exec(state.vmid, "sh", "-c", f"echo customer-{i} > /mnt/data/file.txt")
        env.client.put_config(state.vmid, protection=1)
        out.append(state)
    return out


def identity(env: Env, state: GuestState) -> dict[str, Any]:
    now = env.engine().read(state.vmid, state.owner)
    assert now is not None
    conf = env.client.get_config(state.vmid)
    return {
        "vmid": now.vmid,
        "mac": now.mac,
        "ipv4": now.ipv4,
        "hostname": now.hostname,
        "host_keys": now.host_keys,
        "tags": now.tags,
        "mounts": now.mounts,
        "status": now.status,
        "protection": conf.get("protection"),
        "file": env.guest_exec(state.vmid, "cat", "/mnt/data/file.txt"),
    }


def leftovers(env: Env, states: list[GuestState], archives: set[str]) -> None:
    """Only the guests; one rootfs and one data volume each; no archive besides ``archives``."""
    assert sorted(ct["vmid"] for ct in env.cts()) == sorted(s.vmid for s in states)
    disks = [i["volid"] for i in env.client.storage_content("local-lvm")]
    assert len(disks) == 2 * len(states), disks
    backups = {i["volid"] for i in env.client.storage_content("local", content="backup")}
    assert backups == archives


def test_three_guests_roll_keeping_vmid_mac_ip_hostname_keys_and_data(env: Env) -> None:
    states = guests(env, 3)
    before = [identity(env, s) for s in states]
    new = new_golden(env)
    roller, gate = roll_engine(env), RolloutGate("acme", RolloutSettings())
    for state in states:
        result = roller.roll(state.vmid, replace(env.spec(state.hostname), archive=new), gate=gate)
        assert result.archive == new and result.rootfs_rebuilt_at and result.host_keys_carried
    assert [identity(env, s) for s in states] == before
    for state in states:
        assert env.engine().read(state.vmid, state.owner).archive == new  # type: ignore[union-attr]
        assert "Hello from Docker!" in env.guest_exec(state.vmid, "docker", "run", "--rm",
                                                      "hello-world")  # fmt: skip
    leftovers(env, states, {env.golden.archive, new})
    assert env.sim.audit()["l2_collisions"] == []


def test_broken_docker_puts_the_first_guest_back_and_pauses_the_rest(env: Env) -> None:
    states = guests(env, 3)
    before = [identity(env, s) for s in states]
    new = new_golden(env, broken_docker=True)
    roller, gate = roll_engine(env), RolloutGate("acme", RolloutSettings())
    specs = [replace(env.spec(s.hostname), archive=new) for s in states]
    with pytest.raises(VerificationError) as info:
        roller.roll(states[0].vmid, specs[0], gate=gate)
    err = info.value
    assert err.context["guest"] == "acme-0" and err.context["step"] == "docker"
    assert "hello-world" in str(err) and "back on" in err.context["rolled_back"]
    for state, spec in zip(states[1:], specs[1:], strict=True):
        with pytest.raises(FelhomError, match="paused after a failed roll"):
            roller.roll(state.vmid, spec, gate=gate)
    assert [identity(env, s) for s in states] == before
    assert all(
        env.engine().read(s.vmid, s.owner).archive == env.golden.archive  # type: ignore[union-attr]
        for s in states
    )
    leftovers(env, states, {env.golden.archive, new})


@pytest.mark.parametrize(
    "kill",
    [
        ("move_volume_to", 1, "after"),  # data parked on the holder
        ("restore_over", 1, "after"),  # new rootfs, data on the holder, unverified
        ("move_volume_to", 2, "after"),  # data back on the guest, unverified
        ("put_config", 3, "after"),  # verified: the commit point
    ],
    ids=lambda k: f"{k[2]}-{k[0]}-{k[1]}",
)
def test_a_killed_roll_resumes_to_one_rootfs_with_its_data(
    env: Env, kill: tuple[str, int, str]
) -> None:
    [state] = guests(env, 1)
    before = identity(env, state)
    new = new_golden(env)
    spec = replace(env.spec(state.hostname), archive=new)
    with pytest.raises(Killed):
        roll_engine(env, KillingClient(env.client, *kill)).roll(state.vmid, spec)
    roll_engine(env).roll(state.vmid, spec)  # a fresh provider process
    assert identity(env, state) == before
    assert env.engine().read(state.vmid, state.owner).archive == new  # type: ignore[union-attr]
    leftovers(env, [state], {env.golden.archive, new})


def test_without_a_node_shell_new_host_keys_are_published_and_said(env: Env) -> None:
    [state] = guests(env, 1)
    before = identity(env, state)
    new = new_golden(env)
    result = roll_engine(env, shell=None).roll(
        state.vmid, replace(env.spec(state.hostname), archive=new)
    )
    after = identity(env, state)
    assert not result.host_keys_carried and result.state.host_keys == after["host_keys"]
    assert after["host_keys"] != before["host_keys"]
    assert {k: v for k, v in after.items() if k != "host_keys"} == {
        k: v for k, v in before.items() if k != "host_keys"
    }
    assert any("cannot be carried over" in line for line in env.log)
    leftovers(env, [state], {env.golden.archive, new})
