"""Two runners started at once on one PostgreSQL backend never apply a stack twice at once.

Both are real ``python -m felhom_provider.fleet up`` processes over the same four stacks, in
the same order, two stacks at a time: they collide on the first stacks at once. Pulumi's own
stack lock (taken by ``up`` in the backend) decides; the runner that meets a locked stack
waits for it (first runner) or skips it (second runner) and says which. The simulator then
holds exactly one guest per stack, and across both reports each stack's resources were
created exactly once: a stack applied twice at once would have two guests (two restores)
or creates in both reports.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from felhom_provider.fleet.pgserver import LocalPostgres
from tests.fleet.lab import Lab, finish_runner, init_stacks, make_project, start_runner, write_stack

STACKS = [f"lock{i}" for i in range(1, 5)]
ARGS = ["up", "--parallel", "2"]


def test_two_runners_never_overlap_on_a_stack(
    lab: Lab, postgres: LocalPostgres, tmp_path: Path
) -> None:
    backend = postgres.url
    project = make_project(tmp_path / "project")
    for name in STACKS:
        write_stack(project, name, lab.stack_config(name, 1))
    init_stacks(project, STACKS, backend, lab.secret)

    waiter = start_runner(project, backend, [*ARGS, "--on-locked", "wait"], tmp_path / "a.json")
    skipper = start_runner(project, backend, [*ARGS, "--on-locked", "skip"], tmp_path / "b.json")
    a = finish_runner(waiter, tmp_path / "a.json")
    b = finish_runner(skipper, tmp_path / "b.json")

    assert a.returncode == 0, a.output
    assert a.results() == dict.fromkeys(STACKS, "succeeded")
    assert b.returncode in (0, 2), b.output
    assert set(b.results().values()) <= {"succeeded", "locked"}

    # Every stack's three resources were created once, by one runner.
    creates: Counter[str] = Counter()
    for report in (a, b):
        for name in STACKS:
            creates[name] += report.stack(name)["changes"].get("create", 0)
    assert creates == dict.fromkeys(STACKS, 3), (a.report, b.report)
    guests = Counter(str(ct.get("name")) for ct in lab.cts())
    assert {name: guests[f"{name}-g0"] for name in STACKS} == dict.fromkeys(STACKS, 1)

    # They met: one runner found a stack locked by the other and said which.
    waited = re.findall(r"\[(lock\d)\] waiting: locked by (\S+)", a.output)
    skipped = [n for n, r in b.results().items() if r == "locked"]
    assert waited or skipped, a.output + b.output
    for name in skipped:
        assert "is locked by" in b.stack(name)["error"]
        assert f"locked: {name}" in b.output or "locked:" in b.output
