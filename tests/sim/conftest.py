"""Simulator tests talk to a self-signed loopback endpoint: silence urllib3's TLS warning here."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Ignore ``InsecureRequestWarning`` for tests in this folder only."""
    for item in items:
        if "tests/sim/" in str(item.path):
            item.add_marker(
                pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
            )
