"""Restore slots shared by provider processes: a bound per node across processes, held by
flock so a killed holder frees its slot, configured only by the fleet runner's variables."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from felhom_provider.reconcile import locks
from felhom_provider.reconcile.node_slots import ENV_DIR, ENV_LIMIT, NodeSlots


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, None),
        ({ENV_DIR: "/tmp/x"}, None),
        ({ENV_LIMIT: "3"}, None),
        ({ENV_DIR: "", ENV_LIMIT: "3"}, None),
        ({ENV_DIR: "/tmp/x", ENV_LIMIT: "3"}, NodeSlots(Path("/tmp/x"), 3)),
        ({ENV_DIR: "/tmp/x", ENV_LIMIT: "1"}, NodeSlots(Path("/tmp/x"), 1)),
    ],
)
def test_slots_are_configured_only_by_both_variables(
    environ: dict[str, str], expected: NodeSlots | None
) -> None:
    assert NodeSlots.from_environ(environ) == expected


@pytest.mark.parametrize("limit", ["0", "-1", "two", "1.5"])
def test_a_bad_limit_is_refused_naming_the_variable(limit: str) -> None:
    with pytest.raises(ValueError, match=ENV_LIMIT):
        NodeSlots.from_environ({ENV_DIR: "/tmp/x", ENV_LIMIT: limit})


@pytest.mark.parametrize("node", ["", "../etc", "a/b", "-pve", "pve node", "x" * 64])
def test_slot_files_are_named_only_for_node_names(tmp_path: Path, node: str) -> None:
    with pytest.raises(ValueError, match="not a PVE node name"):
        NodeSlots(tmp_path, 2).path(node, 0)


def test_slot_files_sit_in_the_directory_per_node_and_index(tmp_path: Path) -> None:
    assert NodeSlots(tmp_path, 2).path("pve-2", 1) == tmp_path / "pve-2.1.slot"


def test_the_slot_directory_and_owner_only_files_are_made_on_first_use(tmp_path: Path) -> None:
    slots = NodeSlots(tmp_path / "project" / ".felhom" / "node-slots", 1)
    fd = slots.try_take("pve", [0])
    assert fd is not None
    os.close(fd)
    assert (slots.path("pve", 0).stat().st_mode & 0o777) == 0o600


def test_at_most_limit_holders_per_node_and_nodes_are_apart(tmp_path: Path) -> None:
    slots = NodeSlots(tmp_path / "slots", 2)
    first = slots.try_take("pve", [0, 1])
    second = slots.try_take("pve", [0, 1])
    assert first is not None and second is not None
    assert slots.try_take("pve", [0, 1]) is None
    other = slots.try_take("pve2", [0, 1])
    assert other is not None
    os.close(first)
    again = slots.try_take("pve", [1, 0])
    assert again is not None
    for fd in (second, other, again):
        os.close(fd)


def test_hold_waits_until_a_slot_is_freed(tmp_path: Path) -> None:
    slots = NodeSlots(tmp_path, 1, poll_s=0.2)
    held = slots.try_take("pve", [0])
    assert held is not None
    pauses: list[float] = []

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) == 3:
            os.close(held)

    with slots.hold("pve", sleep=sleep, rng=random.Random(1)):
        assert slots.try_take("pve", [0]) is None
    assert len(pauses) == 3
    assert all(0.1 <= p <= 0.3 for p in pauses)  # poll_s with jitter
    fd = slots.try_take("pve", [0])  # released after the block
    assert fd is not None
    os.close(fd)


def test_a_killed_holder_frees_its_slot(tmp_path: Path) -> None:
    """The slot is the other process's flock: it holds across processes and dies with it."""
    slots = NodeSlots(tmp_path, 1)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, fcntl, os\n"
            f"fd = os.open({str(slots.path('pve', 0))!r}, os.O_RDWR | os.O_CREAT, 0o600)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "print('held', flush=True)\n"
            "sys.stdin.read()\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        assert slots.try_take("pve", [0]) is None
    finally:
        holder.kill()
        holder.wait()
    fd = slots.try_take("pve", [0])
    assert fd is not None
    os.close(fd)


def test_restore_slot_takes_a_shared_slot_only_in_a_fleet_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = f"slot-node-{random.randrange(10**6)}"
    monkeypatch.delenv(ENV_DIR, raising=False)
    monkeypatch.delenv(ENV_LIMIT, raising=False)
    with locks.restore_slot(node, 2):
        assert not list(tmp_path.iterdir())
    monkeypatch.setenv(ENV_DIR, str(tmp_path))
    monkeypatch.setenv(ENV_LIMIT, "1")
    shared = NodeSlots(tmp_path, 1)
    with locks.restore_slot(node, 2):
        # This process's own bound (2) has room; the node's shared bound (1) is full.
        assert locks.restore_slots(node, 2).acquire(blocking=False)
        locks.restore_slots(node, 2).release()
        assert shared.try_take(node, [0]) is None
    fd = shared.try_take(node, [0])
    assert fd is not None
    os.close(fd)
