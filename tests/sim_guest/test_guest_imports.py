"""The guest package has no import circle and every command is registered by the table."""

from __future__ import annotations

import ast
from pathlib import Path

from felhom_provider.sim.guest import catalog, template
from felhom_provider.sim.guest.commands import TABLE

PACKAGE = Path(__file__).resolve().parents[2] / "felhom_provider" / "sim" / "guest"
PREFIX = "felhom_provider.sim.guest"


def _imports(path: Path) -> set[str]:
    """Guest modules imported anywhere in the file (function-level imports included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == PREFIX:
                found |= {f"{PREFIX}.{a.name}" for a in node.names}
            elif node.module.startswith(PREFIX + "."):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith(PREFIX + ".")}
    return found


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(mod: str) -> list[str] | None:
        state[mod] = 1
        stack.append(mod)
        for dep in sorted(graph.get(mod, ())):
            if state.get(dep) == 1:
                return [*stack[stack.index(dep) :], dep]
            if dep not in state and (found := visit(dep)) is not None:
                return found
        stack.pop()
        state[mod] = 2
        return None

    for mod in sorted(graph):
        if mod not in state and (found := visit(mod)) is not None:
            return found
    return None


def test_guest_modules_import_no_circle() -> None:
    graph = {
        f"{PREFIX}.{p.stem}": _imports(p) for p in PACKAGE.glob("*.py") if p.stem != "__init__"
    }
    assert "felhom_provider.sim.guest.commands" in graph
    assert _cycle(graph) is None, _cycle(graph)


def test_cycle_finder_finds_a_circle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_every_table_path_is_shipped_by_a_package() -> None:
    shipped = {b for pkg in catalog.CATALOG.values() for b in pkg.binaries}
    missing = {
        name: c.path for name, c in TABLE.items() if c.path is not None and c.path not in shipped
    }
    assert missing == {}


def test_template_ships_every_program_whose_package_it_has() -> None:
    image = template.base_image()
    for name in catalog.TEMPLATE_PACKAGES:
        for binary in catalog.CATALOG[name].binaries:
            assert binary in image, binary
