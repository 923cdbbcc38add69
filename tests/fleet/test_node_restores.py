"""``--node-restores``: a node's restores bounded across the stacks of a fleet run.

Four stacks of two guests each may restore two at a time each (eight at once); with
``--node-restores 2`` the node never runs more than two ``vzrestore`` tasks at once, whichever
provider process they come from. Read from the node's own task records (start and end
seconds; truncating both keeps back-to-back tasks apart, so no overlap is invented).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fleet.lab import Lab, init_stacks, make_project, run_runner, write_stack

pytestmark = pytest.mark.e2e

STACKS = ["nr1", "nr2", "nr3", "nr4"]


@pytest.fixture(scope="module")
def timed_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A simulator whose tasks take time (a restore 2 s), so restores can overlap."""
    lab = Lab(tmp_path_factory.mktemp("timed-lab"), time_scale=0.1)
    yield lab
    lab.stop()


def restore_intervals(lab: Lab) -> list[tuple[int, int]]:
    """[start, end) of every finished guest restore the node ran (not the golden build's)."""
    intervals = []
    for path in (lab.root / "sim" / "tasks").rglob("*"):
        if not path.is_file():
            continue
        task = json.loads(path.read_text())
        if task["type"] == "vzrestore" and task["endtime"] is not None:
            intervals.append((int(task["starttime"]), int(task["endtime"])))
    return intervals


def most_at_once(intervals: list[tuple[int, int]]) -> int:
    """The largest number of half-open intervals covering one instant."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = peak = 0
    for _, step in events:  # at equal times the end (-1) sorts before the start (+1)
        running += step
        peak = max(peak, running)
    return peak


@pytest.mark.parametrize(
    ("intervals", "peak"),
    [([], 0), ([(0, 4), (4, 8)], 1), ([(0, 4), (3, 8)], 2), ([(0, 9), (1, 2), (2, 3)], 2)],
)
def test_most_at_once(intervals: list[tuple[int, int]], peak: int) -> None:
    assert most_at_once(intervals) == peak


def test_node_restores_bound_the_node_across_stacks(timed_lab: Lab, tmp_path: Path) -> None:
    backend = f"file://{tmp_path / 'backend'}"
    (tmp_path / "backend").mkdir()
    project = make_project(tmp_path / "project")
    for name in STACKS:
        write_stack(project, name, timed_lab.stack_config(name, 2, restores_per_node=2))
    init_stacks(project, STACKS, backend, timed_lab.secret)

    args = ["up", "--parallel", "4", "--node-restores", "2"]
    up = run_runner(project, backend, args, tmp_path / "up.json")
    assert up.returncode == 0, up.output
    assert up.results() == dict.fromkeys(STACKS, "succeeded")
    intervals = restore_intervals(timed_lab)
    assert len(intervals) == 2 * len(STACKS)
    assert most_at_once(intervals) <= 2
    assert {f"{s}-g{i}" for s in STACKS for i in range(2)} <= {
        str(ct.get("name")) for ct in timed_lab.cts()
    }
    assert sorted(p.name for p in (project / ".felhom" / "node-slots").iterdir()) == [
        f"{timed_lab.node}.0.slot",
        f"{timed_lab.node}.1.slot",
    ]
