"""The layers hold: every import of every module (function-level ones too) is read from its
AST and mapped to a package (``sequences``, ``campaigns``, ``channels``, ``engine``) or a room
of ``engine`` (``engine.store``, ``engine.talents`` …)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("sequences", "campaigns", "channels", "engine")
# Asking which database it is on, or speaking one database's SQL: only engine/store/dialect.py
# (and Alembic's migrations, which keep what Alembic needs).
DIALECT_SPECIFIC = re.compile(
    r"dialect\.name|get_backend_name|sqlalchemy\.dialects|on_conflict_do"
    r"|@compiles\(\w+, \""
)
DIALECT_HOME = (ROOT / "engine/store/dialect.py", ROOT / "engine/store/migrations")


def _modules() -> Iterator[tuple[str, Path]]:
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            yield ".".join(parts).removesuffix(".__init__"), path


def _imports(path: Path) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


def _room(module: str) -> str:
    """``engine.store.models`` → ``engine.store``; ``engine.config`` → ``engine``."""
    parts = module.split(".")
    if parts[0] == "engine" and len(parts) > 1 and (ROOT / "engine" / parts[1]).is_dir():
        return f"engine.{parts[1]}"
    return parts[0]


def _graph(level: str) -> dict[str, set[str]]:
    """Who imports whom, between packages (``level="package"``) or engine's rooms."""
    name = _room if level == "room" else (lambda module: module.split(".")[0])
    graph: dict[str, set[str]] = {}
    for module, path in _modules():
        for target in _imports(path):
            if target.split(".")[0] in PACKAGES and name(target) != name(module):
                graph.setdefault(name(module), set()).add(name(target))
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` (its nodes in order, the first repeated), or None."""
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt, [*path, nxt])) is not None:
                return found
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start, [start])) is not None:
            return found
    return None


def test_cycle_finder_finds_a_cycle_and_only_one() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b", "c"}, "b": {"c"}}) is None


def test_packages_form_no_cycle_and_only_engine_imports_engine() -> None:
    graph = _graph("package")
    assert _cycle(graph) is None, _cycle(graph)
    for package in ("sequences", "campaigns", "channels"):
        assert "engine" not in graph.get(package, set()), f"{package} imports engine"
    assert graph.get("sequences", set()) == set()


def test_store_is_the_ground_floor() -> None:
    """engine.store (database, models, dialects) imports no other room of engine: no
    ``database ↔ talents ↔ models`` cycle, hidden in a function or not."""
    assert _graph("room").get("engine.store", set()) <= {"sequences"}


@pytest.mark.parametrize("module_path", [p for _, p in _modules()], ids=lambda p: p.name)
def test_only_dialect_py_knows_the_database(module_path: Path) -> None:
    if any(module_path.is_relative_to(home) for home in DIALECT_HOME):
        return
    lines = module_path.read_text(encoding="utf-8").splitlines()
    found = [
        f"{n}: {line.strip()}" for n, line in enumerate(lines, 1) if DIALECT_SPECIFIC.search(line)
    ]
    assert not found, f"{module_path.relative_to(ROOT)} speaks one dialect: {found}"
