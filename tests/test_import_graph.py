"""The import graph of ``felhom_provider/`` has no circle.

Every module of the package is read with ``ast`` (nothing is imported) and every import of
another ``felhom_provider`` module is an edge: module-level imports, imports inside
``if TYPE_CHECKING:`` blocks and imports inside functions alike. A TYPE_CHECKING-only edge
is counted on purpose: it is still a dependency the reader and the type checker follow, and
a circle through one means the two modules are one concern split across two files. Shared
types belong in a leaf module or behind a ``Protocol`` instead.

Not an edge: the implicit import of a parent package (``import a.b.c`` runs ``a/b/__init__``),
which Python resolves before the module body and which every module of a package has.

Each strongly connected component of the graph is reported with one circle through it, so a
failure names the files to untangle.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "felhom_provider"


def module_names(root: Path = ROOT, package: str = PACKAGE) -> dict[str, Path]:
    """Every module of ``package`` under ``root``: dotted name -> file (a package by its
    ``__init__``)."""
    found: dict[str, Path] = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _resolve(current: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module an ``ImportFrom`` names (relative imports resolved)."""
    if node.level == 0:
        return node.module or ""
    base = current.split(".") if is_package else current.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(name: str, source: str, modules: Iterable[str]) -> set[str]:
    """The package modules ``source`` (module ``name``) imports anywhere in its body."""
    known = set(modules)
    is_package = False
    found: set[str] = set()

    def nearest(dotted: str) -> str | None:
        # ``import a.b.c`` where ``c`` is a function-free module: the longest known prefix.
        parts = dotted.split(".")
        while parts:
            candidate = ".".join(parts)
            if candidate in known:
                return candidate
            parts.pop()
        return None

    is_package = f"{name}.__init__" in known or any(m.startswith(name + ".") for m in known)
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PACKAGE and (hit := nearest(alias.name)):
                    found.add(hit)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(name, is_package, node)
            if base.split(".")[0] != PACKAGE:
                continue
            for alias in node.names:
                # ``from pkg import sub`` imports the submodule when one exists by that name.
                sub = f"{base}.{alias.name}"
                hit = sub if sub in known else nearest(base)
                if hit:
                    found.add(hit)
    found.discard(name)
    return found


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the package modules it imports, for every module of ``felhom_provider``."""
    modules = module_names(root)
    return {name: imports_of(name, path.read_text(), modules) for name, path in modules.items()}


def circles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """One circle (``[a, b, ..., a]``) per strongly connected component with more than one
    module, found with Tarjan's algorithm; sorted for a stable report."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def strongconnect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component: set[str] = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(component)

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return sorted((_path_in(graph, c) for c in components), key=lambda p: p[0])


def _path_in(graph: Mapping[str, set[str]], component: set[str]) -> list[str]:
    """A circle through the component's first module, by breadth-first search inside it."""
    start = min(component)
    previous: dict[str, str] = {}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph.get(v, set()) & component):
            if w == start:
                path = [v]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return [*reversed(path), start]
            if w not in previous:
                previous[w] = v
                queue.append(w)
    raise AssertionError(f"no circle in component {sorted(component)}")  # pragma: no cover


def test_felhom_provider_has_no_import_circle() -> None:
    graph = import_graph()
    assert "felhom_provider.sim.state" in graph  # the walk found the package
    found = circles(graph)
    report = "\n".join(" -> ".join(c) for c in found)
    assert found == [], f"import circles in {PACKAGE}/:\n{report}"


def test_the_simulator_state_reaches_no_rule_module() -> None:
    # The state is data, flocks, clock and persistence; the rules take it as an argument.
    graph = import_graph()
    reached: set[str] = set()
    todo = ["felhom_provider.sim.state"]
    while todo:
        for dep in graph[todo.pop()] - reached:
            reached.add(dep)
            todo.append(dep)
    rules = {m for m in graph if "felhom_provider.sim.state" in graph[m]}
    assert "felhom_provider.sim.lxc_create" in rules
    assert reached & rules == set()


def test_circles_finds_each_component_with_its_path() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"e"}, "e": {"d", "f"}, "f": set()}
    assert circles(graph) == [["a", "b", "c", "a"], ["d", "e", "d"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_imports_of_counts_type_checking_function_level_and_relative_imports() -> None:
    modules = ["felhom_provider.x", *(f"felhom_provider.x.{m}" for m in "ab"), "felhom_provider.y"]
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from felhom_provider.x import b\n"
        "def f():\n    import felhom_provider.y\n"
        "from . import a\n"
        "from .b import thing\n"
        "import os\n"
    )
    found = imports_of("felhom_provider.x.a", source, modules)
    assert found == {"felhom_provider.x.b", "felhom_provider.y"}
    assert imports_of("felhom_provider.y", "from felhom_provider.x import Name\n", modules) == {
        "felhom_provider.x"
    }


def test_the_program_loads_no_engine_pve_client_or_ssh_library() -> None:
    """The program runs on every ``pulumi up``/``preview`` of every stack: importing it must not
    pull in what only the provider process uses (lazy package exports, ``guest.keyline``)."""
    heavy = ("paramiko", "proxmoxer", "requests", "tenacity", "felhom_provider.reconcile.bringup")
    probe = (
        "import sys, felhom_provider.program; "
        f"print(','.join(m for m in {heavy!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == ""
