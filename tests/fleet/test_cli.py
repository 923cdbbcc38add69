"""The command line without Pulumi: list, selection errors, the destroy confirmation."""

from __future__ import annotations

from pathlib import Path

import pytest

from felhom_provider.fleet.cli import EX_USAGE, run

REPO = Path(__file__).resolve().parents[2]


def test_list_shows_the_repository_stacks(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["fleet", "list", "--project", str(REPO)]) == 0
    out = capsys.readouterr().out
    assert "dev" in out and "1 stack(s)" in out  # the .invalid example is left out


def test_python_m_form_has_no_fleet_word(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["list", "example-customer", "--project", str(REPO)], fleet_only=True) == 0
    assert "example-customer" in capsys.readouterr().out


def test_unknown_stack_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["fleet", "up", "nope-*", "--project", str(REPO)]) == EX_USAGE
    assert "no stack matches 'nope-*'" in capsys.readouterr().out


def test_destroy_needs_its_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["fleet", "destroy", "dev", "--project", str(REPO)]) == EX_USAGE
    assert "--yes-destroy" in capsys.readouterr().out
