"""The stack identity with the real Pulumi CLI: markers that survive ``stack rename`` and never
collide between two backends.

One simulator, two file backends holding a stack of the same project and name. In file
order: the first preview shows every resource as a create (the id is not known yet); ``up``
marks the golden archive and the guest with the drawn id; after ``pulumi stack rename`` an
``up`` is a no-op and the guest is still refreshed and updated under its marker; the second
backend draws another id and its ``up`` refuses the first backend's guest (same pinned VMID)
by name instead of adopting it, touching nothing of it, until the id its error names is set
as ``felhom:stackId`` (the lost-state recovery). A stack made before the identity
existed keeps every marker (and sees the identity as its one create).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from felhom_provider.reconcile.model import owner_of
from tests.e2e.pulumi_cli import PulumiProject, copy_project
from tests.e2e.test_stack_lifecycle import STACK, Run, Sim, dev_config, make_project

VMID = 4321
GUEST: dict[str, Any] = {"name": "id-web", "vmid": VMID, "cores": 1, "memory": 512}
RENAMED = "e2e-renamed"


def project_in(base: Path, name: str, pulumi_cli: Path) -> Callable[[Path], PulumiProject]:
    """A factory for a project copy with its own file backend under ``base/name``."""

    def factory(source: Path) -> PulumiProject:
        workdir = copy_project(source, base / name / "project")
        state = base / name / "pulumi-state"
        (state / "backend").mkdir(parents=True)
        return PulumiProject(workdir=workdir, state_dir=state, bin_dir=pulumi_cli)

    return factory


def identity_in(project: PulumiProject) -> str:
    """The id the stack's ``StackIdentity`` holds in state."""
    state = json.loads(project.run("stack", "export").stdout)["deployment"]["resources"]
    return str(next(r["id"] for r in state if r["type"].endswith("felhom:StackIdentity")))


@pytest.fixture(scope="module")
def env(pulumi_cli: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    base = tmp_path_factory.mktemp("identity")
    sim = Sim(base / "sim")
    try:
        config = dev_config(**{"felhom:guests": [GUEST]})
        first = make_project(project_in(base, "a", pulumi_cli), base / "a" / "src", sim, config)
        yield {"sim": sim, "base": base, "cli": pulumi_cli, "first": Run(sim, first)}
    finally:
        sim.stop()


def test_first_preview_shows_creates_while_the_id_is_unknown(env: dict[str, Any]) -> None:
    run: Run = env["first"]
    preview = run.pulumi("preview")
    assert "+ 4 to create" in preview.stdout, preview.stdout
    assert "felhom:StackIdentity" in preview.stdout and "id-web" in preview.stdout
    assert run.sim.cts() == []


def test_up_marks_the_archive_and_the_guest_with_the_drawn_id(env: dict[str, Any]) -> None:
    run: Run = env["first"]
    run.pulumi("up", "--yes")
    outputs = run.project.outputs()
    sid = outputs["stackId"]
    assert re.fullmatch(r"[0-9a-f]{32}", sid) and identity_in(run.project) == sid
    marker = f"{sid}:felhom/{STACK}/id-web"
    assert outputs["guests"]["id-web"]["owner"] == marker
    assert owner_of(run.sim.client.get_config(VMID)) == marker
    notes = [v.get("notes", "") for v in run.sim.client.storage_content("local")]
    assert any(f"owner={sid}:felhom/{STACK}/golden" in n for n in notes), notes
    env["sid"], env["archive"] = sid, outputs["goldenImage"]["archive"]


def test_a_renamed_stack_keeps_its_id_and_its_guest(env: dict[str, Any]) -> None:
    run: Run = env["first"]
    run.pulumi("stack", "rename", RENAMED)
    before = run.sim.mutations()
    again = run.pulumi("up", "--yes")
    assert "4 unchanged" in again.stdout, again.stdout
    assert run.sim.mutations() == before
    assert run.project.outputs()["stackId"] == env["sid"]
    # Refresh reads the guest under its marker (it would refuse a CT that is not its own).
    run.pulumi("refresh", "--yes")
    run.set_guests([{**GUEST, "memory": 1024}])
    up = run.pulumi("up", "--yes")
    assert "1 updated" in up.stdout and "replaced" not in up.stdout, up.stdout
    config = run.sim.client.get_config(VMID)
    assert int(config["memory"]) == 1024
    # The marker it was created with: the old stack name, the same id.
    assert owner_of(config) == f"{env['sid']}:felhom/{STACK}/id-web"
    assert run.guests()["id-web"]["owner"] == owner_of(config)


def test_a_second_backend_never_adopts_the_first_ones_guest(env: dict[str, Any]) -> None:
    sim: Sim = env["sim"]
    base: Path = env["base"]
    # Same project, same stack name, the first one's archive (no second golden build).
    config = dev_config(**{"felhom:guests": [GUEST], "felhom:golden": {"archive": env["archive"]}})
    factory = project_in(base, "b", env["cli"])
    second = Run(sim, make_project(factory, base / "b" / "src", sim, config))
    theirs = sim.client.get_config(VMID)
    up = second.pulumi("up", "--yes", check=False)
    text = up.stdout + up.stderr
    assert up.returncode != 0, text
    other = identity_in(second.project)
    assert re.fullmatch(r"[0-9a-f]{32}", other) and other != env["sid"]
    diagnostics = text.split("Diagnostics:", 1)[-1]
    assert f"CT {VMID} (the pinned vmid) is owned by another stack" in diagnostics, text
    assert f"'{env['sid']}:felhom/{STACK}/id-web'" in diagnostics
    assert f"not '{other}:felhom/{STACK}/id-web'" in diagnostics
    assert "Traceback" not in text
    after = sim.client.get_config(VMID)
    assert after["digest"] == theirs["digest"], "the other backend's guest was touched"
    assert owner_of(after) == f"{env['sid']}:felhom/{STACK}/id-web"
    assert [int(c["vmid"]) for c in sim.cts()] == [VMID]
    env["second"] = second


def test_the_old_id_in_config_recovers_a_lost_state(env: dict[str, Any]) -> None:
    """The second backend as the first one's lost state: with the id its error named set as
    ``felhom:stackId``, ``up`` adopts the CT by its marker (no restore, no restart)."""
    second: Run = env["second"]
    sim: Sim = env["sim"]
    restores = sim.audit()["requests"].get("POST /nodes/{node}/lxc", 0)
    assert restores >= 1, "the first backend's restore is counted under this key"
    second.project.run("config", "set", "felhom:stackId", env["sid"])
    second.set_guests([{**GUEST, "memory": 1024}])  # as the first backend left it
    second.pulumi("up", "--yes")
    adopted = second.guests()["id-web"]
    assert adopted["vmid"] == VMID and adopted["state"] == "running"
    assert adopted["owner"] == f"{env['sid']}:felhom/{STACK}/id-web"
    assert second.project.outputs()["stackId"] == env["sid"]
    assert sim.audit()["requests"].get("POST /nodes/{node}/lxc", 0) == restores
    assert [int(c["vmid"]) for c in sim.cts()] == [VMID]
    # Hand it back to the first backend: forget it here without touching PVE.
    urn = next(
        r["urn"]
        for r in json.loads(second.pulumi("stack", "export").stdout)["deployment"]["resources"]
        if r["urn"].endswith("::id-web")
    )
    second.pulumi("state", "delete", urn, "--yes")
    second.pulumi("destroy", "--yes")
    assert [int(c["vmid"]) for c in sim.cts()] == [VMID]


def test_destroy_removes_the_first_backends_guest(env: dict[str, Any]) -> None:
    run: Run = env["first"]
    run.pulumi("destroy", "--yes")
    assert run.sim.cts() == [] and run.sim.archives() == []


#: The program as it was before the stack identity: markers without an id, no identity.
LEGACY_MAIN = """
from dataclasses import replace

import pulumi
from pulumi.runtime.config import get_config

from felhom_provider.program import load_program_config
from felhom_provider.resources import FelhomGuest, GoldenImage

cfg = load_program_config(
    get_config, project=pulumi.get_project(), stack=pulumi.get_stack(), secret_is_set=True
)
image = GoldenImage("golden", cfg.golden.build)
for name, args in cfg.guests:
    FelhomGuest(name, replace(args, archive=image.archive), pulumi.ResourceOptions(protect=False))
"""


def test_a_stack_made_before_the_identity_keeps_its_markers(
    pulumi_cli: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    base = tmp_path_factory.mktemp("legacy")
    sim = Sim(base / "sim")
    try:
        config = dev_config(**{"felhom:guests": [GUEST]})
        project = make_project(project_in(base, "a", pulumi_cli), base / "src", sim, config)
        run = Run(sim, project)
        main = project.workdir / "__main__.py"
        current = main.read_text()
        main.write_text(LEGACY_MAIN)
        run.pulumi("up", "--yes")
        old_marker = f"felhom/{STACK}/id-web"
        assert owner_of(sim.client.get_config(VMID)) == old_marker
        main.write_text(current)
        before = sim.mutations()
        preview = run.pulumi("preview")
        assert "+ 1 to create" in preview.stdout and "3 unchanged" in preview.stdout, preview.stdout
        up = run.pulumi("up", "--yes")
        assert "1 created" in up.stdout and "3 unchanged" in up.stdout, up.stdout
        assert sim.mutations() == before, "no guest or image was touched"
        outputs = run.project.outputs()
        assert outputs["guests"]["id-web"]["owner"] == old_marker
        # A guest added now takes the id; the old one keeps the marker it was made with.
        run.set_guests([GUEST, {"name": "id-new", "cores": 1, "memory": 512}])
        run.pulumi("up", "--yes")
        guests = run.guests()
        assert guests["id-new"]["owner"] == f"{outputs['stackId']}:felhom/{STACK}/id-new"
        assert owner_of(sim.client.get_config(VMID)) == old_marker
        run.pulumi("destroy", "--yes")
        assert sim.cts() == []
    finally:
        sim.stop()
