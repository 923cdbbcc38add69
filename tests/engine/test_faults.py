"""Faults: each scenario ends with no CT the engine neither owns nor reports."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import requests

from felhom_provider.errors import (
    FelhomError,
    HostKeyError,
    PermissionDeniedError,
    RollbackError,
    TaskFailedError,
)
from felhom_provider.pve.tls import PinnedFingerprintAdapter
from tests.engine.conftest import TEMPLATE, Env, client_for

LOCK_500 = "can't lock file '/run/lock/lxc/pve-config-100.lock' - got timeout"
MUTATING_ROUTES = [
    ("POST", "/nodes/{node}/lxc"),
    ("POST", "/nodes/{node}/lxc/{vmid}/status/start"),
    ("POST", "/nodes/{node}/lxc/{vmid}/status/stop"),
    ("POST", "/nodes/{node}/lxc/{vmid}/status/shutdown"),
    ("PUT", "/nodes/{node}/lxc/{vmid}/config"),
    ("PUT", "/nodes/{node}/lxc/{vmid}/resize"),
    ("DELETE", "/nodes/{node}/lxc/{vmid}"),
]


def test_transient_lock_500s_on_every_mutating_call(env: Env) -> None:
    rules = [
        env.sim.add_http_fault(method, path, status=500, message=LOCK_500, times=2)
        for method, path in MUTATING_ROUTES
    ]
    engine, spec = env.engine(), env.spec()
    state = engine.create(spec)
    # A new hostname needs a restart (shutdown + start), so every mutating route is hit.
    new = env.spec(cores=3, rootfs_gib=11, hostname=f"{spec.hostname}-2")
    state = engine.update(state.vmid, new, state)
    assert (state.cores, state.rootfs_gib, state.status) == (3, 11, "running")
    engine.delete(state.vmid, spec.owner)
    hits = {(r.method, r.path): r.hits for r in env.sim.state.faults.http}
    assert all(hits[(r.method, r.path)] == 2 for r in rules), hits  # F4: retried, bounded
    assert env.cts() == []


def test_restore_task_that_fails_leaves_nothing(env: Env) -> None:
    env.sim.add_task_fault("vzrestore", "unable to restore CT 100 - no space left on device")
    spec = env.spec()
    with pytest.raises(TaskFailedError, match="no space left") as info:
        env.engine().create(spec)
    assert info.value.context["guest"] == spec.name and info.value.context["step"] == "restore"
    assert info.value.journal is not None and info.value.journal.steps()[-1] == "restore"
    assert env.cts() == []


def test_start_task_that_fails_is_rolled_back(env: Env) -> None:
    env.sim.add_task_fault("vzstart", "command 'systemctl start pve-container@100' failed")
    with pytest.raises(TaskFailedError) as info:
        env.engine().create(env.spec())
    assert "destroyed CT" in info.value.context["rolled_back"]
    assert env.cts() == []


class LoseRestoreAnswer(PinnedFingerprintAdapter):
    """Sends the first restore POST for real, then drops its answer (the task runs)."""

    def __init__(self, fingerprint: str) -> None:
        super().__init__(fingerprint)
        self.lost = 0

    def send(self, request: requests.PreparedRequest, *args: Any, **kw: Any) -> Any:
        response = super().send(request, *args, **kw)
        if request.method == "POST" and str(request.path_url).endswith("/lxc") and not self.lost:
            self.lost += 1
            raise requests.exceptions.ConnectionError("Connection aborted: answer lost")
        return response


def test_dropped_connection_during_restore_follows_the_task(env: Env) -> None:
    adapter = LoseRestoreAnswer(env.sim.endpoint["tls_fingerprint_sha256"])
    client = client_for(env.sim, adapter=adapter)
    state = env.engine(client=client).create(env.spec())
    assert adapter.lost == 1
    assert env.sim.request_counts()["POST /nodes/{node}/lxc"] == 1  # no second restore
    assert any("following it (not re-sent)" in line for line in env.log)
    assert [ct["vmid"] for ct in env.cts()] == [state.vmid]


def test_vmid_taken_between_nextid_and_restore(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    taken: list[int] = []
    original = env.client.next_vmid

    def racing(hint: int | None = None) -> int:
        vmid = original(hint)
        if not taken:  # someone else creates this CT right after nextid answered
            taken.append(vmid)
            argv = ["pct", "create", str(vmid), TEMPLATE, "--rootfs", "local-lvm:4",
                    "--hostname", "intruder"]  # fmt: skip
            env.shell.run(argv).check()
        return vmid

    monkeypatch.setattr(env.client, "next_vmid", racing)
    spec = env.spec()
    state = env.engine().create(spec)
    assert state.vmid != taken[0]
    intruder = next(ct for ct in env.cts() if ct["vmid"] == taken[0])
    assert intruder["hostname"] == "intruder"  # never touched
    assert env.orphans(owners={spec.owner}, ignore={taken[0]}) == []


def test_token_missing_a_privilege_is_named_by_preflight(env: Env) -> None:
    weak = client_for(env.sim, token="weak")
    with pytest.raises(PermissionDeniedError) as info:
        env.engine(client=weak).create(env.spec())
    assert info.value.missing and info.value.context["step"] == "preflight"
    assert all(" on /" in m for m in info.value.missing)
    assert weak.stats.mutating == 0 and env.cts() == []


def test_host_keys_never_appear_without_a_node_shell(env_factory: Any) -> None:
    env = env_factory("keyless")
    with pytest.raises(HostKeyError, match="no node shell") as info:
        env.engine(shell=None).create(env.spec())
    assert "destroyed CT" in info.value.context["rolled_back"]
    assert env.cts() == []


def test_missing_host_keys_regenerated_over_the_node_shell(env_factory: Any) -> None:
    env = env_factory("keyless")
    state = env.engine().create(env.spec())
    assert state.host_keys
    assert any("regenerating" in line for line in env.log)


def test_simulator_restarted_mid_restore(env_factory: Any) -> None:
    env = env_factory(time_scale=0.1)  # a restore takes 2 s of wall time
    spec = env.spec()
    engine = env.engine(shell=None)
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["state"] = engine.create(spec)
        except FelhomError as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 60
    while not any(t.type == "vzrestore" and t.status == "running"
                  for t in env.sim.state.tasks.all()):  # fmt: skip
        assert time.monotonic() < deadline
        time.sleep(0.01)
    env.sim.restart()
    worker.join(timeout=300)
    assert not worker.is_alive()
    error = outcome.get("error")
    print("restart outcome:", repr(error) if error else outcome.get("state"))
    reported: set[int] = set()
    if isinstance(error, RollbackError):
        reported = {
            ct["vmid"] for ct in env.cts() if any(f"CT {ct['vmid']} " in x for x in error.leftovers)
        }
    owners = {spec.owner} if "state" in outcome else set()
    assert env.orphans(owners=owners, reported=reported) == []
