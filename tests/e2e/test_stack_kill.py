"""SIGKILL of ``pulumi up`` during a guest's restore, then ``up`` again: one guest, adopted.

The first run dies with the restore task still running inside PVE (the simulator runs tasks
at a fraction of real durations here, so the restore is in flight long enough to kill).
The next ``up`` finds the CT by its ownership marker and adopts it instead of restoring a
second one; nothing is left over.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.e2e.pulumi_cli import PulumiProject, copy_project, processes_in
from tests.e2e.test_stack_lifecycle import Sim, dev_config, make_project

GUEST = {"name": "acme-web", "cores": 1, "memory": 512, "rootfsGiB": 8}


def test_killed_up_during_restore_is_adopted_not_duplicated(
    pulumi_cli: Path, tmp_path: Path
) -> None:
    sim = Sim(tmp_path / "sim", time_scale=0.3)
    try:

        def factory(source: Path) -> PulumiProject:
            workdir = copy_project(source, tmp_path / "project")
            (tmp_path / "pulumi-state" / "backend").mkdir(parents=True)
            return PulumiProject(workdir, tmp_path / "pulumi-state", pulumi_cli)

        project = make_project(factory, tmp_path / "src", sim, dev_config(**{"felhom:guests": []}))
        project.run("up", "--yes")  # the golden image only
        project.run("config", "set", "felhom:guests", "--", json.dumps([GUEST]))

        log = (tmp_path / "killed-up.log").open("w")
        proc = subprocess.Popen(
            [str(pulumi_cli / "pulumi"), "up", "--yes", "--non-interactive"],
            cwd=project.workdir,
            env=project.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            # Kill while PVE holds the new CT under `lock: create` (the restore task runs).
            for _ in range(1200):
                if any(ct.get("lock") == "create" for ct in sim.cts()):
                    break
                assert proc.poll() is None, (tmp_path / "killed-up.log").read_text()
                time.sleep(0.05)
            else:
                raise AssertionError("the restore never started")
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            log.close()
        assert len(sim.cts()) == 1

        # The engine is gone, so its plugins must go too: the dynamic provider's watchdog
        # ends it rather than letting it finish a bring-up that nothing will record.
        for _ in range(1200):
            left = processes_in(project.workdir)
            if not left:
                break
            time.sleep(0.05)
        assert not left, "processes outlived the killed pulumi up: " + "; ".join(
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode() for pid in left
        )

        # The killed run left the file backend's lock behind; clear it as an operator would.
        project.run("cancel", "--yes", check=False)
        up = project.run("up", "--yes", check=False)
        if up.returncode != 0 and "pending" in up.stdout + up.stderr:
            project.run("refresh", "--yes", "--clear-pending-creates")
            up = project.run("up", "--yes")
        assert up.returncode == 0, up.stdout + up.stderr
        cts = sim.cts()
        assert len(cts) == 1, cts
        outputs: dict[str, Any] = project.outputs()["guests"]
        assert outputs["acme-web"]["vmid"] == int(cts[0]["vmid"])
        assert "adopting CT" in up.stdout
        project.run("destroy", "--yes")
        assert sim.cts() == []
    finally:
        sim.stop()
