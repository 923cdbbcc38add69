"""The scenarios of ``scenarios.SCENARIOS`` in order, one test each, against one stack.

Run with ``make acceptance`` (``pytest -x`` stops at the first failure: later scenarios build
on earlier ones). Not part of the default test run; see conftest.py.
"""

from __future__ import annotations

import pytest

from tests.acceptance.scenarios import SCENARIOS, Scenario, scenario_ids
from tests.acceptance.suite import Suite


@pytest.mark.parametrize("scenario", SCENARIOS, ids=scenario_ids())
def test_scenario(suite: Suite, scenario: Scenario) -> None:
    suite.say(f"--- {scenario.__name__}")
    scenario(suite)
