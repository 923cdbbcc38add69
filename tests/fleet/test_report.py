"""The report: JSON document, summary table and the command's exit status."""

from __future__ import annotations

import io
import json
from pathlib import Path

from rich.console import Console

from felhom_provider.fleet.cli import exit_status
from felhom_provider.fleet.report import FleetReport, StackResult, print_summary


def report(*results: tuple[str, str]) -> FleetReport:
    rep = FleetReport(operation="up", backend="file:///b")
    for i, (stack, result) in enumerate(results):
        error = None if result == "succeeded" else f"error: [urn=felhom:{stack}] boom\nmore"
        rep.add(StackResult(stack, "pve1", i, result, {"create": 2}, 1.23456, error))
    rep.finished_at = rep.started_at + 5
    return rep


def test_json_report(tmp_path: Path) -> None:
    rep = report(("b", "failed"), ("a", "succeeded"), ("c", "skipped"))
    rep.write(tmp_path / "r.json")
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["counts"] == {"succeeded": 1, "failed": 1, "locked": 0, "skipped": 1}
    assert [s["stack"] for s in doc["stacks"]] == ["b", "a", "c"]  # by wave
    assert doc["stacks"][1] == {
        "stack": "a",
        "node": "pve1",
        "wave": 1,
        "result": "succeeded",
        "changes": {"create": 2},
        "duration_s": 1.235,
        "error": None,
    }
    assert doc["durationS"] == 5


def test_summary_names_failed_and_skipped_and_keeps_brackets() -> None:
    out = io.StringIO()
    print_summary(
        report(("a", "succeeded"), ("b", "failed"), ("c", "skipped")), Console(file=out, width=200)
    )
    text = out.getvalue()
    assert "failed: b" in text and "skipped: c" in text
    assert "[urn=felhom:b] boom" in text  # Pulumi's brackets are text, not markup


def test_exit_status() -> None:
    assert exit_status(report(("a", "succeeded"))) == 0
    assert exit_status(report(("a", "succeeded"), ("b", "locked"))) == 2
    assert exit_status(report(("a", "locked"), ("b", "failed"))) == 1
    assert exit_status(report(("a", "skipped"))) == 1
