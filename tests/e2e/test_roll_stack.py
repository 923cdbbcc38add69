"""Rolling a new golden image onto a protected fleet with the real Pulumi CLI (issue 11).

One stack (module scope, file order): three protected guests with a data mount and a file
written inside each mount; then

* a golden revision bump, built in the same run: preview shows three updates (not
  replacements) with the unknown new archive; ONE ``up`` rolls every guest, keeping VMID,
  MAC, IP, hostname, host key fingerprints and the file, leaving nothing behind;
* a new archive with broken Docker: the first guest fails its check and is back on its old
  root filesystem with its data, running; the others were not touched (the rollout paused);
* SIGKILL of ``pulumi up`` in the middle of a guest's rebuild (while a data volume moves,
  and while the new root filesystem is restored over the guest), then ``up`` again: every
  guest on exactly one root filesystem with its data. The broad kill-point matrix is in
  ``tests/engine/test_roll.py`` and ``tests/unit/reconcile/test_roll_engine.py``.

``felhom:protect`` stays on (Pulumi ``protect`` and PVE ``protection=1``) throughout. The
simulator runs with instant tasks; a kill point is reached by delaying one request with a
simulator HTTP fault (the request still runs in PVE after the client is gone, as after a
real SIGKILL).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.pulumi_cli import PulumiProject, copy_project
from tests.e2e.test_operator_stack import node_shell
from tests.e2e.test_stack_lifecycle import Run, Sim, dev_config, make_project

GUESTS = [
    {
        "name": f"roll-{i}",
        "memory": 512,
        "rootfsGiB": 8,
        "mounts": [{"storage": "local-lvm", "sizeGiB": 1, "path": "/srv/data"}],
    }
    for i in range(3)
]
DATA = "/srv/data/customer.txt"
IDENTITY = ("vmid", "mac", "ipv4", "hostname", "hostKeys", "hostPublicKeys", "mounts", "tags")


@pytest.fixture(scope="module")
def run(pulumi_cli: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    base = tmp_path_factory.mktemp("roll")
    sim = Sim(base / "sim")

    def factory(source: Path) -> PulumiProject:
        workdir = copy_project(source, base / "project")
        (base / "pulumi-state" / "backend").mkdir(parents=True)
        return PulumiProject(workdir=workdir, state_dir=base / "pulumi-state", bin_dir=pulumi_cli)

    config = dev_config(**{"felhom:guests": GUESTS, "felhom:protect": True})
    try:
        yield Run(sim, make_project(factory, base / "src", sim, config))
    finally:
        sim.stop()


def bump_golden(run: Run, revision: int) -> None:
    run.project.run("config", "set", "--path", "felhom:golden.build.revision", str(revision))


def golden_only(run: Run, revision: int) -> str:
    """Build a new golden archive without rolling the guests yet (``--target``); returns it.

    The image is set to ``retain`` first: the simulator refuses to delete an archive that a
    guest's config still names, and here the guests still run on the previous one when the
    image is replaced.
    """
    run.project.run("config", "set", "--path", "felhom:golden.build.retain", "true")
    run.pulumi("up", "--yes", "--target", golden_urn(run))
    bump_golden(run, revision)
    run.pulumi("up", "--yes", "--target", golden_urn(run))
    return golden_archive(run)


def golden_archive(run: Run) -> str:
    return str(run.project.outputs()["goldenImage"]["archive"])


def read_file(run: Run, vmid: int) -> str:
    return str(node_shell(run.sim).exec(vmid, ["cat", DATA]).check().stdout)


def assert_protected(run: Run) -> None:
    """PVE protection on every guest, Pulumi protect on every guest resource."""
    for ct in run.sim.cts():
        assert str(run.sim.client.get_config(int(ct["vmid"])).get("protection")) == "1", ct
    state = json.loads(run.pulumi("stack", "export").stdout)["deployment"]["resources"]
    guests = [r for r in state if r["type"].endswith("felhom:Guest")]
    assert len(guests) == 3 and all(r.get("protect") is True for r in guests)


def assert_nothing_left(run: Run, archives: set[str]) -> None:
    """Only the three guests; one root filesystem and one data volume each; no roll
    holder, no vzdump of an old root filesystem; only ``archives`` in the backup storage."""
    cts = run.sim.cts()
    assert sorted(int(ct["vmid"]) for ct in cts) == sorted(
        g["vmid"] for g in run.guests().values()
    ), cts
    volumes = [v["volid"] for v in run.sim.client.storage_content("local-lvm")]
    assert len(volumes) == 2 * len(cts), volumes
    assert set(run.sim.archives()) == archives


def on_one_rootfs(run: Run, vmid: int) -> list[str]:
    """The guest's volumes: exactly one root filesystem and one data volume, both its own."""
    config = run.sim.client.get_config(vmid)
    assert "lock" not in config, config
    owned = sorted(v["volid"] for v in run.sim.client.storage_content("local-lvm", vmid=vmid))
    assert len(owned) == 2 and config["rootfs"].split(",")[0] in owned, (owned, config)
    assert config["mp0"].split(",")[0] in owned
    return owned


def test_up_brings_three_protected_guests_with_a_file_in_each_data_mount(run: Run) -> None:
    run.pulumi("up", "--yes")
    guests = run.guests()
    assert len(guests) == 3
    shell = node_shell(run.sim)
    for name, guest in guests.items():
        shell.exec(guest["vmid"], ["sh", "-c", f"echo data of {name} > {DATA}"]).check()
        assert read_file(run, guest["vmid"]).strip() == f"data of {name}"
        assert guest.get("rootfsRebuiltAt") is None  # set by the first roll
    assert_protected(run)


def test_a_golden_bump_rolls_every_guest_in_one_up_keeping_identity_and_data(run: Run) -> None:
    before, old_archive = run.guests(), golden_archive(run)
    bump_golden(run, 2)
    preview = run.pulumi("preview")
    assert "3 to update" in preview.stdout and "1 to replace" in preview.stdout, preview.stdout
    assert "roll-0" in preview.stdout and "root filesystem rebuilt from" in preview.stdout
    assert "known after it is built in this run" in preview.stdout
    assert "data mounts kept" in preview.stdout and f"was {old_archive}" in preview.stdout

    up = run.pulumi("up", "--yes")
    assert "3 updated" in up.stdout and "verified on" in up.stdout, up.stdout
    new_archive = golden_archive(run)
    assert new_archive != old_archive
    after = run.guests()
    for name, guest in after.items():
        assert {k: guest[k] for k in IDENTITY} == {k: before[name][k] for k in IDENTITY}
        assert guest["archive"] == new_archive and guest["rootfsRebuiltAt"]
        assert guest["state"] == "running"
        assert read_file(run, guest["vmid"]).strip() == f"data of {name}"
    # The replaced golden image deletes its old archive once the new one is built (the
    # guests no longer need it: a roll keeps its own vzdump of the old root filesystem).
    assert_nothing_left(run, {new_archive})
    assert_protected(run)
    again = run.pulumi("up", "--yes")
    assert "6 unchanged" in again.stdout, again.stdout


def test_broken_docker_puts_the_first_guest_back_and_leaves_the_others(run: Run) -> None:
    before, old_archive = run.guests(), golden_archive(run)
    broken = golden_only(run, 3)
    run.sim.admin._call("POST", "/_sim/archives/docker-broken", None, {"volume": broken})
    volumes = {g["vmid"]: on_one_rootfs(run, g["vmid"]) for g in before.values()}
    up = run.pulumi("up", "--yes", check=False)
    text = up.stdout + up.stderr
    assert up.returncode != 0
    # The failed guest's error names it and the check; the others' name it as the cause.
    failed = sorted(name for name in before if f"error: {name}: step 'docker' failed" in text)
    assert len(failed) == 1, text
    paused = [line for line in text.splitlines() if "paused after a failed roll" in line]
    assert paused and all(failed[0] in line for line in paused), text
    assert "hello-world" in text and f"back on {old_archive} with its data" in text
    assert "updated" not in up.stdout.split("Resources:")[-1], up.stdout
    after = run.guests()
    for name, guest in after.items():
        assert guest == before[name], name  # state unchanged: every guest on the old image
        config = run.sim.client.get_config(guest["vmid"])
        assert f"felhom-archive={old_archive}" in config["description"]
        assert run.sim.client.status(guest["vmid"])["status"] == "running"
        assert read_file(run, guest["vmid"]).strip() == f"data of {name}"
        now = on_one_rootfs(run, guest["vmid"])
        if name != failed[0]:
            assert now == volumes[guest["vmid"]], name  # never touched: the same volumes
    # Both archives are kept by design: the image is retained (see golden_only).
    assert_nothing_left(run, {old_archive, broken})
    assert_protected(run)


def golden_urn(run: Run) -> str:
    state = json.loads(run.pulumi("stack", "export").stdout)["deployment"]["resources"]
    return str(next(r["urn"] for r in state if r["type"].endswith("felhom:GoldenImage")))


def add_delay(run: Run, method: str, path: str, delay: float) -> int:
    params = {"method": method, "path": path, "action": "delay", "delay": delay, "times": 1}
    answer = run.sim.admin._call("POST", "/_sim/faults/http", None, params)
    return int(answer["id"])


def fault_hits(run: Run, fault_id: int) -> int:
    faults = run.sim.admin._call("GET", "/_sim/faults", None, None)
    found = [f for f in faults.get("http", []) if int(f["id"]) == fault_id]
    return int(found[0]["hits"]) if found else 1


def wait_for(predicate: Any, what: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    for _ in range(2400):
        if predicate():
            return
        assert proc.poll() is None, f"pulumi up ended before {what}:\n{log.read_text()}"
        time.sleep(0.05)
    raise AssertionError(f"never reached: {what}")


MOVE = "/nodes/{node}/lxc/{vmid}/move_volume"
RESTORE = "/nodes/{node}/lxc"


@pytest.mark.parametrize("kill_point", ["data-move", "restore-over"])
def test_a_killed_up_mid_rebuild_then_up_again_leaves_one_rootfs_with_data(
    run: Run, kill_point: str, tmp_path: Path
) -> None:
    before, kept = run.guests(), set(run.sim.archives())
    new_archive = golden_only(run, 4 if kill_point == "data-move" else 5)
    # The first data move of the first guest is held for a few seconds inside PVE.
    move = add_delay(run, "POST", MOVE, 4.0)
    log = tmp_path / "killed-up.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(run.project.bin_dir / "pulumi"), "up", "--yes", "--non-interactive"],
            cwd=run.project.workdir,
            env=run.project.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_for(lambda: fault_hits(run, move) >= 1, "the data move", proc, log)
            if kill_point == "restore-over":
                # Then the restore of the new root filesystem over the guest is held too.
                restore = add_delay(run, "POST", RESTORE, 4.0)
                wait_for(lambda: fault_hits(run, restore) >= 1, "the restore over", proc, log)
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    # The held request runs in PVE after the kill, as it would on a real node: let it end.
    time.sleep(5)
    for _ in range(600):
        if not any(ct.get("lock") for ct in run.sim.cts()):
            break
        time.sleep(0.1)
    run.project.run("cancel", "--yes", check=False)
    up = run.pulumi("up", "--yes", check=False)
    if up.returncode != 0 and "pending" in up.stdout + up.stderr:
        run.pulumi("refresh", "--yes", "--clear-pending-creates")
        up = run.pulumi("up", "--yes", check=False)
    assert up.returncode == 0, up.stdout + up.stderr
    assert "rolling back an interrupted roll" in up.stdout, up.stdout
    after = run.guests()
    for name, guest in after.items():
        assert {k: guest[k] for k in IDENTITY} == {k: before[name][k] for k in IDENTITY}
        assert guest["archive"] == new_archive and guest["state"] == "running"
        on_one_rootfs(run, guest["vmid"])
        assert read_file(run, guest["vmid"]).strip() == f"data of {name}"
    assert_nothing_left(run, kept | {new_archive})  # the retained images' archives
    assert_protected(run)
