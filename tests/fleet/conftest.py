"""Fixtures for the fleet tests: one simulator with a golden archive, a real PostgreSQL server.

Both are session-scoped and shared by every fleet e2e test (starting a simulator and building
a golden archive costs seconds). The PostgreSQL server comes from the machine's own binaries
(``felhom_provider.fleet.pgserver``); when they are missing the tests fail with the install
hint rather than being skipped.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from felhom_provider.fleet.pgserver import LocalPostgres
from tests.fleet.lab import Lab

E2E_FILES = ("test_fleet_e2e.py", "test_fleet_runners.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The runner e2e tests drive the real Pulumi CLI: mark them ``e2e``."""
    for item in items:
        if item.path.name in E2E_FILES:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """The simulator (instant tasks) and a golden archive on it."""
    lab = Lab(tmp_path_factory.mktemp("fleet-lab"))
    yield lab
    lab.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[LocalPostgres]:
    """A PostgreSQL server on a free loopback port (as the ``postgres`` user when root)."""
    with LocalPostgres() as server:
        yield server
