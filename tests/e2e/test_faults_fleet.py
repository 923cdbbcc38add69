"""One `pulumi up` of a fleet under the ``transient-fleet`` fault profile (real CLI).

The simulator runs with ``--faults transient-fleet`` from the start: lock 500s on every
mutating path, connections dropped before and after it handled a request, 5xx on reads and
slow answers, drawn from a fixed seed. One guest (pinned VMID) also gets a permanent fault:
its start task fails. ONE `pulumi up` must bring the golden image and every other guest up
(no orphan, no duplicate, no CT left locked) and fail that one guest fast with one readable
message, rolled back, while the others carry on.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from felhom_provider.reconcile.model import owner_of
from tests.e2e.pulumi_cli import PulumiProject, copy_project
from tests.e2e.test_stack_lifecycle import STACK, Sim, dev_config, make_project

GOOD = 6
BAD_VMID = 4242
START_FAILS = "command 'systemctl start pve-container@4242' failed: exit code 1"


def fleet() -> list[dict[str, object]]:
    guests: list[dict[str, object]] = [
        {"name": f"fleet-{i}", "cores": 1, "memory": 512, "rootfsGiB": 8} for i in range(GOOD)
    ]
    guests.append({"name": "fleet-bad", "cores": 1, "memory": 512, "rootfsGiB": 8,
                   "vmid": BAD_VMID})  # fmt: skip
    return guests


def test_one_up_converges_under_transient_faults(
    pulumi_cli: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    base = tmp_path_factory.mktemp("fleet")
    task_fault = {"type": "vzstart", "exitstatus": START_FAILS, "vmid": BAD_VMID, "times": 1}
    sim = Sim(
        base / "sim",
        extra_args=(
            "--faults", "transient-fleet", "--fault-seed", "20261129",
            "--fault-task", json.dumps(task_fault),
        ),
    )  # fmt: skip

    def factory(source: Path) -> PulumiProject:
        workdir = copy_project(source, base / "project")
        (base / "pulumi-state" / "backend").mkdir(parents=True)
        return PulumiProject(workdir=workdir, state_dir=base / "pulumi-state", bin_dir=pulumi_cli)

    try:
        config = dev_config(**{"felhom:guests": fleet()})
        project = make_project(factory, base / "src", sim, config)
        up = project.run("up", "--yes", check=False)
        text = up.stdout + up.stderr
        assert up.returncode != 0, "the permanent fault must fail its guest"
        # One readable message for the failed guest, no Python traceback.
        assert "Traceback" not in text, text[-4000:]
        diagnostics = text.split("Diagnostics:", 1)[-1]
        assert "fleet-bad: step 'start' failed: task vzstart failed" in diagnostics, text[-4000:]
        assert diagnostics.count("step 'start' failed") == 1
        assert "rolled back: stopped CT 4242; destroyed CT 4242" in diagnostics
        assert "to do: read the task's log" in diagnostics
        # Step lines are ephemeral: the summary keeps one result line per resource.
        assert "restoring CT" not in diagnostics and "waiting for task" not in diagnostics
        assert diagnostics.count("ready: vmid") == GOOD
        # Every other guest converged in this one run, exactly once, nothing left locked.
        cts = sim.cts()
        owners = Counter(owner_of({"description": sim.client.get_config(c["vmid"]).get(
            "description")}) for c in cts)  # fmt: skip
        state = json.loads(project.run("stack", "export").stdout)
        sid = next(r["id"] for r in state["deployment"]["resources"]
                   if r["type"].endswith(":StackIdentity"))  # fmt: skip
        assert owners == Counter(f"{sid}:felhom/{STACK}/fleet-{i}" for i in range(GOOD)), owners
        assert all(c.get("status") == "running" and not c.get("lock") for c in cts), cts
        assert BAD_VMID not in {int(c["vmid"]) for c in cts}, "the failed guest was not removed"
        types = Counter(r["type"].rsplit(":", 1)[-1] for r in state["deployment"]["resources"])
        assert types["Guest"] == GOOD and types["GoldenImage"] == 1, types
        rules = sim.admin._call("GET", "/_sim/faults")["http"]
        assert sum(int(r["hits"]) for r in rules) >= GOOD, "the profile barely fired"
    finally:
        sim.stop()
