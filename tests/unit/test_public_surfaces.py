"""Every package has a public surface, its ``__all__``, sorted and complete.

A package's surface is either names (``sequences``, ``channels`` and its providers,
``engine.cli``) or, where nothing is imported in ``__init__`` to keep the command line
fast, its modules (the rooms of ``engine``, ``campaigns``). Like httpx's
``test_exported_members``.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import pkgutil
from pathlib import Path
from types import ModuleType

import pytest

OURS = ("sequences", "campaigns", "channels", "engine")


def _packages() -> list[str]:
    found = []
    for top in OURS:
        found.append(top)
        package = importlib.import_module(top)
        found += [m.name for m in pkgutil.walk_packages(package.__path__, f"{top}.") if m.ispkg]
    return sorted(found)


PACKAGES = _packages()


def _source(package: ModuleType) -> ast.Module:
    assert package.__file__ is not None
    return ast.parse(Path(package.__file__).read_text())


def _listed(tree: ast.Module) -> list[str]:
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
                assert node.value is not None
                return list(ast.literal_eval(node.value))
    raise AssertionError("no __all__")


def _public_names(tree: ast.Module) -> set[str]:
    """Names the ``__init__`` defines or imports from our packages (``TYPE_CHECKING`` blocks
    included: the lazily loaded names); plumbing from the standard library is not surface."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in OURS:
            names |= {alias.asname or alias.name for alias in node.names}
        elif isinstance(node, ast.FunctionDef | ast.ClassDef) and node in tree.body:
            names.add(node.name)
        elif isinstance(node, ast.Assign) and node in tree.body:
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return {name for name in names if not name.startswith("_")}


def _modules(package: ModuleType) -> set[str]:
    return {m.name for m in pkgutil.iter_modules(package.__path__) if not m.name.startswith("_")}


def _isort_key(name: str) -> tuple[int, str]:
    """ruff's RUF022 order: CONSTANTS, then Classes, then the rest."""
    return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)


def test_every_package_is_walked() -> None:
    assert {"channels.sendgrid", "channels.twilio", "engine.core", "engine.web"} <= set(PACKAGES)


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_sorted_and_complete(name: str) -> None:
    package = importlib.import_module(name)
    tree = _source(package)
    listed = _listed(tree)
    assert listed == sorted(listed, key=_isort_key), f"{name}.__all__ is not sorted"
    assert len(set(listed)) == len(listed), f"{name}.__all__ lists a name twice"
    missing = [
        item
        for item in listed
        if not hasattr(package, item) and importlib.util.find_spec(f"{name}.{item}") is None
    ]
    assert not missing, f"{name}.__all__ lists what does not exist: {missing}"
    defined = _public_names(tree)
    if defined:
        unlisted = sorted(defined - set(listed))
        assert not unlisted, f"{name} exports without listing them: {unlisted}"
        assert set(listed) <= defined | _modules(package)
    else:
        assert set(listed) == _modules(package), f"{name}.__all__ is not its modules"
