"""Layering rules the import graph alone does not state (issue 13, "House").

- Modules outside ``felhom_provider/resources/`` use only the resources package's public
  surface (its ``__init__`` and its public modules), never a private ``resources._*`` module.
- ``secrets`` is a leaf: every layer may import it, it imports nothing of the package.
- The provider-process plumbing (``provider_process``) imports nothing of ``resources``:
  it serves the resources' provider process, it does not depend on the resources.
"""

from __future__ import annotations

from tests.test_import_graph import import_graph

GRAPH = import_graph()


def test_nothing_outside_resources_imports_a_private_resources_module() -> None:
    offenders = {
        module: sorted(i for i in imports if i.startswith("felhom_provider.resources._"))
        for module, imports in GRAPH.items()
        if not module.startswith("felhom_provider.resources")
    }
    assert {m: i for m, i in offenders.items() if i} == {}


def test_secrets_is_a_leaf() -> None:
    assert GRAPH["felhom_provider.secrets"] == set()


def test_provider_process_does_not_depend_on_resources() -> None:
    plumbing = {m: i for m, i in GRAPH.items() if m.startswith("felhom_provider.provider_process")}
    assert len(plumbing) == 4
    for module, imports in plumbing.items():
        assert not any(i.startswith("felhom_provider.resources") for i in imports), module
