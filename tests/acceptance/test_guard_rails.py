"""The acceptance suite's guard rails, against the simulator (part of the default test run).

A foreign CT or archive inside the suite's VMID range is never touched, neither by the sweep
nor by the guard's destructive calls; a suite-marked CT outside the range is not either. A run
killed outright (SIGKILL) leaves objects that the next run's start-up sweep removes; a run
stopped with SIGTERM cleans up after itself.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from felhom_provider.pve import PveClient
from tests.acceptance.guard import ForeignObjectError, Guard
from tests.acceptance.suite import startup_sweep
from tests.acceptance.target import Target, env_for_sim, target_from_env, target_from_sim
from tests.e2e.pulumi_cli import REPO
from tests.e2e.test_stack_lifecycle import Sim

TEMPLATE = "local:vztmpl/debian-13-standard_13.1-2_amd64.tar.zst"
RANGE = "9100-9109"
SUITE_OWNER = "felhom/felhom-acceptance-0123abcd"
MUTATING = ("POST ", "PUT ", "DELETE ")


def make_ct(client: PveClient, vmid: int, description: str) -> None:
    """A plain CT made with the token, as any other user of the node might."""
    params = {
        "ostemplate": TEMPLATE,
        "hostname": f"ct{vmid}",
        "rootfs": "local-lvm:1",
        "net0": "name=eth0,bridge=vmbr0,ip=dhcp",
        "unprivileged": 1,
        "description": description,
    }
    client.wait_task(client.create_lxc(vmid, params), 60)


def archive(client: PveClient, vmid: int, notes: str) -> str:
    """vzdump ``vmid`` with ``notes``, protected as the golden build makes it; the volid."""
    client.wait_task(client.vzdump(vmid, "local", notes=notes, protected=True), 60)
    items = client.storage_content("local", "backup", vmid)
    return str(max(items, key=lambda i: (i["ctime"], i["volid"]))["volid"])


def mutations(sim: Sim) -> int:
    counts = sim.audit()["requests"]
    return sum(n for k, n in counts.items() if k.startswith(MUTATING) and "/_sim/" not in k)


def digests(client: PveClient, vmids: list[int]) -> dict[int, str]:
    return {v: str(client.get_config(v)["digest"]) for v in vmids}


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[Sim]:
    server = Sim(tmp_path / "sim", time_scale=0.0)
    try:
        yield server
    finally:
        server.stop()


def _target(sim: Sim) -> Target:
    return target_from_sim(sim.endpoint, {"FELHOM_ACC_VMIDS": RANGE})


def test_sweep_removes_only_the_suites_objects_inside_its_range(sim: Sim) -> None:
    client = sim.client
    make_ct(client, 9101, "a customer's box")  # foreign, in range
    make_ct(client, 9102, "felhom-owner=felhom/customer/acme")  # another stack's, in range
    make_ct(client, 9103, f"felhom-owner={SUITE_OWNER}/acc-1")  # the suite's, in range
    make_ct(client, 9200, f"felhom-owner={SUITE_OWNER}/acc-2")  # the suite's, outside
    ours = archive(client, 9103, f"felhom-golden owner={SUITE_OWNER}/golden docker=overlayfs")
    theirs = archive(client, 9101, "felhom-golden owner=felhom/customer/golden")
    outside = archive(client, 9200, f"felhom-golden owner={SUITE_OWNER}/golden")
    client.wait_task(client.start(9103), 60)
    kept = [9101, 9102, 9200]
    before = digests(client, kept)

    removed = startup_sweep(_target(sim), client, say=lambda _: None)

    assert removed == ["CT 9103", ours]
    assert sorted(int(ct["vmid"]) for ct in client.list_lxc()) == kept
    assert digests(client, kept) == before
    volids = {i["volid"] for i in client.storage_content("local", "backup")}
    assert volids == {theirs, outside}


@pytest.mark.parametrize(
    ("call", "args"),
    [
        ("destroy_ct", (9101,)),
        ("destroy_ct", (9102,)),
        ("destroy_ct", (9200,)),
        ("stop_ct", (9102,)),
        ("put_config", (9101,)),
        ("delete_archive", ("theirs",)),
        ("delete_archive", ("outside",)),
    ],
)
def test_the_guard_refuses_foreign_objects_without_a_request_that_changes_anything(
    sim: Sim, call: str, args: tuple[Any, ...]
) -> None:
    client = sim.client
    make_ct(client, 9101, "a customer's box")
    make_ct(client, 9102, "felhom-owner=felhom/customer/acme")
    make_ct(client, 9200, f"felhom-owner={SUITE_OWNER}/acc-2")
    client.wait_task(client.start(9102), 60)
    volids = {
        "theirs": archive(client, 9101, "felhom-golden owner=felhom/customer/golden"),
        "outside": archive(client, 9200, f"felhom-golden owner={SUITE_OWNER}/golden"),
    }
    guard = Guard(client, range(9100, 9110), "local", None, 60, say=lambda _: None)
    before = mutations(sim)
    argv: list[Any] = [volids.get(a, a) if isinstance(a, str) else a for a in args]
    with pytest.raises(ForeignObjectError, match="refusing"):
        if call == "put_config":
            guard.put_config(*argv, hostname="taken-over")
        else:
            getattr(guard, call)(*argv)
    assert mutations(sim) == before


# --- interrupted runs: the real suite in a child process, with the real CLI --------------


def _child(tmp: Path, sim: Sim) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    env = {**os.environ, **env_for_sim(sim.endpoint, RANGE), "TMPDIR": str(tmp)}
    argv = [sys.executable, "-m", "pytest", "-x", "-s", "-p", "no:cacheprovider"]
    proc = subprocess.Popen(
        [*argv, "tests/acceptance/test_scenarios.py"],
        cwd=REPO,
        env=env,
        stdout=(tmp / "child.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return proc, env


def _wait_for_suite_ct(sim: Sim, guard: Guard, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Until a CT of the run exists (the golden build CT comes first)."""
    for _ in range(3000):
        assert proc.poll() is None, log.read_text()
        if any(guard.owns_ct(int(ct["vmid"])) for ct in sim.cts()):
            return
        time.sleep(0.05)
    raise AssertionError("the run never made a CT\n" + log.read_text())


def _processes_under(root: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if root.resolve() in (entry / "cwd").resolve().parents:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.fixture
def foreign_sim(tmp_path: Path) -> Iterator[Sim]:
    """A simulator at a small time scale with a foreign CT on the range's first VMID."""
    server = Sim(tmp_path / "sim", time_scale=0.05)
    try:
        make_ct(server.client, 9100, "a customer's box")
        yield server
    finally:
        server.stop()


@pytest.mark.e2e
def test_a_killed_run_is_cleaned_by_the_next_runs_start_up_sweep(
    foreign_sim: Sim, tmp_path: Path
) -> None:
    sim, client = foreign_sim, foreign_sim.client
    foreign = digests(client, [9100])
    guard = Guard(client, range(9100, 9110), "local", None, 60, say=lambda _: None)
    proc, env = _child(tmp_path, sim)
    _wait_for_suite_ct(sim, guard, proc, tmp_path / "child.log")
    os.killpg(proc.pid, signal.SIGKILL)  # nothing of the run gets to clean up
    proc.wait(timeout=30)
    for _ in range(1200):
        if not _processes_under(tmp_path):
            break
        time.sleep(0.05)
    assert guard.suite_cts(), "the killed run left its CT behind"

    removed = startup_sweep(target_from_env(env), client, say=lambda _: None)

    assert removed
    assert guard.suite_cts() == [] and guard.suite_archives() == []
    assert digests(client, [9100]) == foreign


@pytest.mark.e2e
def test_sigterm_makes_the_run_clean_up_after_itself(foreign_sim: Sim, tmp_path: Path) -> None:
    sim, client = foreign_sim, foreign_sim.client
    foreign = digests(client, [9100])
    guard = Guard(client, range(9100, 9110), "local", None, 60, say=lambda _: None)
    proc, _ = _child(tmp_path, sim)
    log = tmp_path / "child.log"
    _wait_for_suite_ct(sim, guard, proc, log)
    os.kill(proc.pid, signal.SIGTERM)  # the suite's process only, as a service manager would
    assert proc.wait(timeout=300) != 0
    assert "clean-up of felhom-acceptance-" in log.read_text(), log.read_text()
    assert guard.suite_cts() == [] and guard.suite_archives() == []
    assert digests(client, [9100]) == foreign
