"""Pydantic validation errors turned into located, readable problems.

Pydantic reports a location such as ``('steps', 1, 'email', 'on', 0, 'when', 'goto')``
where ``'email'`` and ``'when'`` are union tags, not keys. ``validate`` walks the model's
types along that location to tell the two apart, finds where the value was written, and
words the message for a recruiter, with a "did you mean" for misspelled keys and choices.
"""

from __future__ import annotations

import copy
import difflib
import re
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, get_args, get_origin

from pydantic import BaseModel, Tag, ValidationError
from pydantic_core import ErrorDetails

from sequences.errors import Problem
from sequences.source import Path, Source, has_child
from sequences.suggest import did_you_mean, one_of

M = TypeVar("M", bound=BaseModel)

_KINDS = {
    "string_type": "should be text",
    "int_type": "should be a whole number",
    "int_parsing": "should be a whole number",
    "int_from_float": "should be a whole number",
    "bool_type": "should be true or false",
    "bool_parsing": "should be true or false",
    "tuple_type": "should be a list",
    "list_type": "should be a list",
    "dict_type": "should be a mapping (key: value pairs)",
    "model_type": "should be a mapping (key: value pairs)",
    "model_attributes_type": "should be a mapping (key: value pairs)",
    "date_type": "should be a date (YYYY-MM-DD)",
    "date_parsing": "should be a date (YYYY-MM-DD)",
    "date_from_datetime_parsing": "should be a date (YYYY-MM-DD)",
}


def validate(model: type[M], source: Source) -> tuple[M | None, list[Problem]]:
    """The model built from ``source.data``, or None and every problem, located.

    A misspelt key is reported as itself ("unknown key 'chanel'; did you mean 'channel'?"),
    never as the required key it leaves missing: the errors are those of the data with
    every misspelling corrected (see ``_correct``).
    """
    built, data, typos, errors = _correct(model, source.data)
    if built is not None and not typos:
        return built, []
    problems = [_typo_problem(source, typo) for typo in typos]
    return None, problems + [_problem(model, source, data, error) for error in errors]


def ignoring_unknown_keys(model: type[M], data: Any) -> tuple[M | None, list[Path]]:
    """The model built as if every misspelt key were corrected (or, without a close match,
    absent), when misspellings are all that is wrong with ``data`` (so a typo does not hide
    the rest of the file), and the paths of the mappings that held them; None when
    something else is wrong too."""
    built, _, typos, _ = _correct(model, data)
    return built, [typo.owner for typo in typos]


def corrected(model: type[BaseModel], data: Any) -> Any:
    """A copy of ``data`` with its misspelt keys corrected: what the author meant to write."""
    return _correct(model, data)[1]


@dataclass(frozen=True)
class _Typo:
    """An unknown ``key`` in the mapping at ``owner``, and the key it was likely meant as."""

    owner: Path
    key: str
    meant: str | None


def _correct(model: type[M], data: Any) -> tuple[M | None, Any, list[_Typo], list[ErrorDetails]]:
    """Validate, correct the unknown keys found (renamed to their close match when that key
    is absent, else dropped), and again, until no new one turns up (a corrected
    ``channel`` reveals the keys of its step): the model or None, the corrected data, the
    typos and the errors left."""
    data, typos = copy.deepcopy(data), list[_Typo]()
    for _ in range(_ROUNDS):
        try:
            return model.model_validate(data), data, typos, []
        except ValidationError as exc:
            errors = _relevant(exc.errors())
        seen = {(typo.owner, typo.key) for typo in typos}
        found = [t for t in _typos(model, data, errors) if (t.owner, t.key) not in seen]
        if not found:
            break
        for typo in found:
            _fix(data, typo)
        typos += found
    return None, data, typos, [e for e in errors if e["type"] != "extra_forbidden"]


_ROUNDS = 5  # a typo can hide another only one level down (a step's tag, then its keys)


def _typos(model: type[BaseModel], data: Any, errors: list[ErrorDetails]) -> list[_Typo]:
    typos = []
    for error in errors:
        path, owner, annotation = _walk(model, data, error["loc"])
        if error["type"] == "extra_forbidden":
            key = str(error["loc"][-1])
            mapping = path[:-1] if path[-1:] == (key,) else path
            typos.append(_Typo(mapping, key, _closest(key, _keys(owner))))
        elif error["type"] in ("union_tag_not_found", "union_tag_invalid"):
            value = _at(data, path)
            known = _union_keys(annotation)
            if isinstance(value, dict) and known:
                unknown = [str(key) for key in value if key not in known]
                typos += [_Typo(path, key, _closest(key, known)) for key in unknown]
    return typos


def _fix(data: Any, typo: _Typo) -> None:
    mapping = _at(data, typo.owner)
    if not isinstance(mapping, dict) or typo.key not in mapping:
        return
    value = mapping.pop(typo.key)
    if typo.meant is not None and typo.meant not in mapping:
        mapping[typo.meant] = value


def _typo_problem(source: Source, typo: _Typo) -> Problem:
    hint = f"; did you mean {typo.meant!r}?" if typo.meant else ""
    return source.problem((*typo.owner, typo.key), f"unknown key {typo.key!r}{hint}", key=True)


def _closest(word: str, choices: list[str]) -> str | None:
    matches = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return matches[0] if matches else None


def _at(data: Any, path: Path) -> Any:
    for part in path:
        if not has_child(data, part):
            return None
        data = data[part]
    return data


def _relevant(errors: list[ErrorDetails]) -> list[ErrorDetails]:
    """Drop 'too short' errors on lists whose items already failed (pydantic reports both)."""
    failed = {error["loc"][:n] for error in errors for n in range(1, len(error["loc"]))}
    return [e for e in errors if not (e["type"] == "too_short" and e["loc"] in failed)]


def _problem(model: type[BaseModel], source: Source, data: Any, error: ErrorDetails) -> Problem:
    path, _, _ = _walk(model, data, error["loc"])
    kind, ctx = error["type"], error.get("ctx") or {}
    name = _name(error["loc"], path)
    if kind == "missing":
        return source.problem(path, f"missing required key {error['loc'][-1]!r}")
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        return _tag_problem(source, path, kind, ctx)
    return source.problem(path, _message(kind, ctx, error, name))


def _message(kind: str, ctx: dict[str, Any], error: ErrorDetails, name: str) -> str:
    if kind == "value_error":
        return str(ctx["error"]) if "error" in ctx else f"{name}: {error['msg']}"
    if kind == "literal_error":
        choices = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        value = error["input"]
        hint = did_you_mean(value, choices) if isinstance(value, str) else ""
        return f"{name}: {value!r} is not one of {one_of(choices)}{hint}"
    if kind == "string_pattern_mismatch":
        return (
            f"{name}: {error['input']!r} is not a valid name: use lower-case letters, digits,"
            " '-' and '_', starting with a letter or digit"
        )
    if kind == "too_short" and name == "steps":
        return "a sequence needs at least one step"
    if kind in _KINDS:
        return f"{name} {_KINDS[kind]}"
    return f"{name}: {error['msg'][0].lower()}{error['msg'][1:]}"


def _tag_problem(source: Source, path: Path, kind: str, ctx: dict[str, Any]) -> Problem:
    key = str(ctx.get("discriminator", "")).strip("'")
    expected = re.findall(r"'([^']*)'", str(ctx.get("expected_tags", "")))
    if key == "channel" and not expected:  # pydantic omits the tags when the key is missing
        expected = ["email", "sms", "whatsapp", "task"]
    if kind == "union_tag_not_found":
        choices = f": one of {one_of(expected)}" if expected else ""
        return source.problem(path, f"missing required key {key!r}{choices}")
    tag = ctx.get("tag", "")
    hint = did_you_mean(tag, expected) or f"; expected {one_of(expected)}"
    message = f"unknown {key} {tag!r}{hint}"
    return source.problem((*path, key), message)


def _name(loc: tuple[int | str, ...], path: Path) -> str:
    if path and isinstance(path[-1], str):
        return path[-1]
    parent = next((part for part in reversed(path) if isinstance(part, str)), "value")
    return f"{parent} item" if path else str(loc[-1]) if loc else "document"


def _walk(model: type[BaseModel], data: Any, loc: tuple[int | str, ...]) -> tuple[Path, Any, Any]:
    """The data path of ``loc`` (tags skipped), the model owning its last element, and the
    type expected there."""
    path: list[str | int] = []
    annotation: Any = model
    owner: Any = model
    for part in loc:
        annotation = _unwrap(annotation)
        if _is_union(annotation):
            annotation = _member(annotation, part)
            continue
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            owner = annotation
            annotation = _field_type(annotation, part)
        else:
            annotation = _item_type(annotation)
        if has_child(data, part):
            data = data[part]
            path.append(part)
    return tuple(path), owner, annotation


def _item_type(annotation: Any) -> Any:
    args = get_args(annotation)
    if not args:
        return None
    return args[-1] if get_origin(annotation) is dict else args[0]


def _unwrap(annotation: Any) -> Any:
    while True:
        if get_origin(annotation) is typing.Annotated:
            annotation = get_args(annotation)[0]
        elif _is_union(annotation):
            members = [m for m in get_args(annotation) if m is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


def _is_union(annotation: Any) -> bool:
    return get_origin(annotation) in (typing.Union, types.UnionType)


def _member(union: Any, tag: int | str) -> Any:
    """The member of a tagged union that ``tag`` selects, or None."""
    for member in get_args(union):
        if get_origin(member) is typing.Annotated:
            tags = [m.tag for m in get_args(member)[1:] if isinstance(m, Tag)]
            if tag in tags:
                return get_args(member)[0]
        elif isinstance(member, type) and issubclass(member, BaseModel):
            for info in member.model_fields.values():
                if get_origin(info.annotation) is Literal and tag in get_args(info.annotation):
                    return member
    return None


def _field_type(model: type[BaseModel], key: int | str) -> Any:
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            return info.annotation
    return None


def _union_keys(annotation: Any) -> list[str]:
    """Every key some member of a tagged union accepts."""
    union = _unwrap(annotation)
    if not _is_union(union):
        return []
    members = [_unwrap(member) for member in get_args(union)]
    return list(dict.fromkeys(key for member in members for key in _keys(member)))


def _keys(model: Any) -> list[str]:
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return []
    return [info.alias or name for name, info in model.model_fields.items()]


__all__ = ["corrected", "ignoring_unknown_keys", "validate"]
