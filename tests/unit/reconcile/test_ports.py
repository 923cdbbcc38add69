"""The real PVE client satisfies the engine's client protocol.

``_as_golden_api`` is checked by mypy (strict) against ``GoldenApi``; the test checks at run
time that every protocol method exists on the client with the keyword names the engine uses.
"""

from __future__ import annotations

import inspect

from felhom_provider.pve import PveClient
from felhom_provider.reconcile.ports import GoldenApi


def _as_golden_api(client: PveClient) -> GoldenApi:
    return client


def test_client_has_every_protocol_method_with_matching_parameters() -> None:
    names = [n for n, v in vars(GoldenApi).items() if callable(v) and not n.startswith("_")]
    names += [
        n for n, v in vars(GoldenApi.__mro__[1]).items() if callable(v) and not n.startswith("_")
    ]
    assert "restore_lxc" in names and "vzdump" in names
    for name in names:
        want = inspect.signature(getattr(GoldenApi, name)).parameters
        have = inspect.signature(getattr(PveClient, name)).parameters
        assert list(want) == list(have), name
    assert _as_golden_api.__name__
