"""YAML read with PyYAML's safe loader, keeping the line and column of every node.

``parse_yaml(text, file)`` returns a ``Source``: the plain Python data plus a map from each
value's path (``("steps", 0, "on", 1, "goto")``) to where it was written, so that every later
finding, structural or semantic, becomes a located ``Problem``.

Two YAML 1.1 traps are closed on the way: keys are always text (``on:`` is not ``True``),
and only ``true``/``false`` are booleans and ``09:00`` stays text (``holidays: NO`` is Norway).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from sequences.errors import Problem

Path = tuple[str | int, ...]
_MAX_NODES = 100_000  # aliases can expand a small file exponentially ("billion laughs")
_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_STR = "tag:yaml.org,2002:str"


@dataclass(frozen=True)
class Source:
    """A parsed YAML file: its data and where each value and key was written (1-based)."""

    file: str
    text: str
    data: Any
    values: dict[Path, tuple[int, int]] = field(default_factory=dict, repr=False)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict, repr=False)
    styles: dict[Path, str | None] = field(default_factory=dict, repr=False)

    def at(self, path: Path, *, key: bool = False) -> tuple[int, int]:
        """Where ``path`` was written; its key when ``key``; else the nearest written parent."""
        if key and path in self.keys:
            return self.keys[path]
        while path not in self.values and path:
            path = path[:-1]
        return self.values.get(path, (1, 1))

    def problem(
        self, path: Path, message: str, *, key: bool = False, severity: str = "error"
    ) -> Problem:
        line, column = self.at(path, key=key)
        return Problem(self.file, line, column, message, severity)

    def get(self, path: Path) -> Any:
        """The value at ``path``, or None when the path does not exist in the data."""
        value = self.data
        for part in path:
            if not has_child(value, part):
                return None
            value = value[part]
        return value


def has_child(value: Any, part: str | int) -> bool:
    """Whether ``value[part]`` exists in plain YAML data (a mapping key or a list index)."""
    if isinstance(value, dict):
        return part in value
    return isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value)


class _TooLarge(Exception):
    pass


class _Builder:
    """Turns a composed node tree into plain data, recording positions on the way."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.problems: list[Problem] = []
        self.constructor = yaml.SafeLoader("")
        self.count = 0
        self.active: set[int] = set()

    def build(self, node: Node, path: Path) -> Any:
        self.count += 1
        if self.count > _MAX_NODES or id(node) in self.active:
            raise _TooLarge
        self.source.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, ScalarNode):
            self.source.styles[path] = node.style
            return self._scalar(node)
        self.active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
            assert isinstance(node, MappingNode)
            return self._mapping(node, path)
        finally:
            self.active.discard(id(node))

    def _scalar(self, node: ScalarNode) -> Any:
        if node.tag == _BOOL and node.value.lower() not in ("true", "false"):
            return node.value
        if node.tag in (_INT, _FLOAT) and _looks_textual(node.value):
            return node.value
        return self.constructor.construct_object(node, deep=True)

    def _mapping(self, node: MappingNode, path: Path) -> dict[str, Any]:
        self.constructor.flatten_mapping(node)  # resolves "<<" merge keys
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            where = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if not isinstance(key_node, ScalarNode):
                self.problems.append(Problem(self.source.file, *where, "a key must be text"))
                continue
            key = str(key_node.value)
            if key in result:
                first = self.source.keys[(*path, key)]
                message = f"duplicate key {key!r} (first written at line {first[0]})"
                self.problems.append(Problem(self.source.file, *where, message))
                continue
            self.source.keys[(*path, key)] = where
            result[key] = self.build(value_node, (*path, key))
        return result


def _looks_textual(value: str) -> bool:
    """YAML 1.1 numbers that people mean as text: 09:00, +4915112345678, 0612345678."""
    return ":" in value or value.startswith("+") or (value[:1] == "0" and value[1:].isdigit())


def parse_yaml(text: str, file: str) -> tuple[Source | None, list[Problem]]:
    """Parse one YAML document; on failure, no Source and the located problems."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        return None, [_syntax_problem(file, exc)]
    except yaml.YAMLError as exc:
        return None, [Problem(file, 1, 1, f"invalid YAML: {exc}")]
    except RecursionError:
        return None, [Problem(file, 1, 1, "invalid YAML: nested too deeply")]
    source = Source(file, text, None)
    if node is None:
        return source, []
    builder = _Builder(source)
    try:
        data = builder.build(node, ())
    except _TooLarge:
        return None, [Problem(file, 1, 1, "invalid YAML: aliases expand too far or recurse")]
    except (yaml.YAMLError, ValueError, OverflowError, RecursionError) as exc:
        return None, [Problem(file, *source.at(()), f"invalid YAML value: {exc}")]
    located = Source(file, text, data, source.values, source.keys, source.styles)
    return located, builder.problems


def _syntax_problem(file: str, exc: yaml.MarkedYAMLError) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    detail = " ".join(part for part in (exc.context, exc.problem) if part)
    return Problem(file, line, column, f"invalid YAML: {detail}")


def sorted_problems(problems: Iterable[Problem]) -> list[Problem]:
    """Errors before warnings, each group in file, line, column order, duplicates dropped."""
    unique = dict.fromkeys(problems)
    return sorted(unique, key=lambda p: (p.severity != "error", p.file, p.line, p.column))
