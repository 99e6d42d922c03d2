"""The Jinja sandbox templates render in, bounded in time and size, and its static checks.

A template is written by a recruiter, but one slip (``{{ 'a' * 10**10 }}``, a loop over a
huge range) must not eat the memory of a worker or hang a campaign tick: rendering one field
stops with a :class:`RenderLimitError` past ``MAX_OUTPUT`` characters (a value built by
``*``, ``+``, ``**`` or an amplifying filter or method counts too) or ``MAX_SECONDS``.
:func:`sandbox_issues` finds what the sandbox would refuse, and the limits a constant
expression already breaks, before anything is sent (``nurture validate``).
"""

from __future__ import annotations

import math
import operator
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from functools import wraps
from typing import Any

from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import (
    UNSAFE_ASYNC_GENERATOR_ATTRIBUTES,
    UNSAFE_COROUTINE_ATTRIBUTES,
    UNSAFE_GENERATOR_ATTRIBUTES,
    SandboxedEnvironment,
)

MAX_OUTPUT = 100_000  # characters of one rendered field, and of any value built on the way
MAX_RANGE = 10_000  # items of range(): no message needs more
MAX_BITS = 4_096  # of an integer built by ``**`` or ``*``
MAX_SECONDS = 2.0  # to render one field

_UNSAFE = {
    *UNSAFE_GENERATOR_ATTRIBUTES, *UNSAFE_COROUTINE_ATTRIBUTES,
    *UNSAFE_ASYNC_GENERATOR_ATTRIBUTES, "mro",
}  # fmt: skip
_REFUSED_TAGS: Mapping[type[nodes.Node], str] = {
    nodes.Include: "{% include %}",
    nodes.Extends: "{% extends %}",
    nodes.Import: "{% import %}",
    nodes.FromImport: "{% from ... import %}",
}
_OPERATORS: Mapping[str, Callable[[Any, Any], Any]] = {
    "*": operator.mul, "**": operator.pow, "+": operator.add,
}  # fmt: skip
_AMPLIFYING = frozenset(
    {"center", "ljust", "rjust", "zfill", "expandtabs", "indent", "format", "format_map", "replace"}
)
_DIGITS = re.compile(r"\d{6,}")
_deadline: ContextVar[float] = ContextVar("nurture_template_deadline", default=math.inf)


class RenderLimitError(SecurityError):
    """A template went past a limit of the sandbox (size, range, time)."""


def _sized(value: Any) -> Any:
    """``value`` when it is within the limits, else RenderLimitError."""
    if isinstance(value, str | list | tuple | bytes) and len(value) > MAX_OUTPUT:
        raise RenderLimitError(f"a value of {len(value):,} items is over {MAX_OUTPUT:,}")
    if isinstance(value, int) and value.bit_length() > MAX_BITS:
        raise RenderLimitError(f"a number of {value.bit_length():,} bits is over {MAX_BITS:,}")
    return value


def _size_of(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value.bit_length()
    return len(value) if isinstance(value, str | list | tuple | bytes) else 0


def _binop(op: str, left: Any, right: Any) -> Any:
    """``left op right``, refused before it is computed when the result would be too big."""
    powers = op == "**" and isinstance(left, int) and isinstance(right, int) and abs(left) > 1
    if powers and right * math.log2(abs(left)) > MAX_BITS:
        raise RenderLimitError(f"{left} ** {right} is over {MAX_BITS:,} bits")
    if op == "*" and isinstance(left, int) != isinstance(right, int):
        count, item = (left, right) if isinstance(left, int) else (right, left)
        if count * _size_of(item) > MAX_OUTPUT:
            raise RenderLimitError(f"repeating a value {count:,} times is over {MAX_OUTPUT:,}")
    if op == "+" and _size_of(left) + _size_of(right) > MAX_OUTPUT:
        raise RenderLimitError(f"joining these values is over {MAX_OUTPUT:,} items")
    return _sized(_OPERATORS[op](left, right))


def _check_time() -> None:
    if time.monotonic() > _deadline.get():
        raise RenderLimitError(f"rendering took more than {MAX_SECONDS:g} seconds")


def _bounded_range(*args: int) -> Iterator[int]:
    """``range()`` of at most ``MAX_RANGE`` items that stops at the render deadline."""
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise RenderLimitError(f"range of {len(numbers):,} items is over {MAX_RANGE:,}")
    for index, number in enumerate(numbers):
        if index % 256 == 0:
            _check_time()
        yield number


def _refuse_big_arguments(name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """Widths, counts and replacements of amplifying filters and methods, before they
    allocate (``args`` starts with the text they work on: a filter's value, a method's
    ``self``)."""
    if name not in _AMPLIFYING:
        return
    values = (*args, *kwargs.values())
    widths = [value for value in values if isinstance(value, int)]
    if name in ("format", "format_map") and args and isinstance(args[0], str):
        widths += [int(digits) for digits in _DIGITS.findall(args[0])]  # "%9999999d"
    if name == "indent" and args and isinstance(args[0], str):
        widths = [width * (args[0].count("\n") + 1) for width in widths]
    if name == "replace" and len(args) >= 3 and all(isinstance(a, str) for a in args[:3]):
        text, old, new = args[:3]
        count = text.count(old) if old else len(text) + 1
        widths = [len(text) + count * (len(new) - len(old))]
    if any(width > MAX_OUTPUT for width in widths):
        raise RenderLimitError(f"{name}() would make a text over {MAX_OUTPUT:,} characters")


def _bounded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    passed = 1 if hasattr(function, "jinja_pass_arg") else 0  # a context comes first

    @wraps(function)  # keeps the pass_context & co. mark Jinja reads on the function
    def bounded(*args: Any, **kwargs: Any) -> Any:
        _refuse_big_arguments(name, args[passed:], kwargs)
        return _sized(function(*args, **kwargs))

    return bounded


class BoundedSandbox(SandboxedEnvironment):
    """Jinja's sandbox with size limits on operators, filters, calls and ``range``."""

    intercepted_binops = frozenset(_OPERATORS)

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.globals["range"] = _bounded_range
        self.filters = {
            name: _bounded_filter(name, function) for name, function in self.filters.items()
        }

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        return _binop(operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _check_time()
        method = getattr(__obj, "__wrapped__", __obj)  # str.format comes wrapped
        text = getattr(method, "__self__", None)
        name = getattr(method, "__name__", "")
        _refuse_big_arguments(name, (text, *args) if isinstance(text, str) else args, kwargs)
        return _sized(super().call(__context, __obj, *args, **kwargs))


@contextmanager
def time_limit() -> Iterator[None]:
    """Rendering inside must end within ``MAX_SECONDS`` (checked at loops and calls)."""
    token = _deadline.set(time.monotonic() + MAX_SECONDS)
    try:
        yield
    finally:
        _deadline.reset(token)


def bounded_join(chunks: Iterator[str]) -> str:
    """The chunks of a streamed render, stopped once past ``MAX_OUTPUT`` characters. (The
    time is checked where it can run away, at loops and calls, not at every chunk: this
    loop runs for every piece of every message.)"""
    parts: list[str] = []
    append, size = parts.append, 0
    for chunk in chunks:
        size += len(chunk)
        if size > MAX_OUTPUT:
            raise RenderLimitError(f"the rendered text is over {MAX_OUTPUT:,} characters")
        append(chunk)
    return "".join(parts)


# --- static checks ------------------------------------------------------------------------


def sandbox_issues(tree: nodes.Template) -> Iterator[tuple[nodes.Node, str, str]]:
    """``(node, text to point at, message)`` for what the sandbox refuses or cannot bound."""
    for node in tree.find_all(nodes.Node):
        if type(node) in _REFUSED_TAGS:
            tag = _REFUSED_TAGS[type(node)]
            keyword = tag.split()[1]
            yield node, keyword, f"{tag} is not available: a template stands alone (no loader)"
        elif isinstance(node, nodes.Getattr | nodes.Getitem):
            yield from _private(node)
        elif isinstance(node, nodes.BinExpr | nodes.Call):
            yield from _constant_limit(node)


def _private(node: nodes.Getattr | nodes.Getitem) -> Iterator[tuple[nodes.Node, str, str]]:
    name = node.attr if isinstance(node, nodes.Getattr) else None
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        name = node.arg.value if isinstance(node.arg.value, str) else None
    if name is not None and (name.startswith("_") or name in _UNSAFE):
        yield node, name, f"{name!r} is a private attribute: the sandbox refuses it"


def _constant_limit(node: nodes.BinExpr | nodes.Call) -> Iterator[tuple[nodes.Node, str, str]]:
    """A constant expression that already breaks a limit, such as ``range(10**9)``."""
    if isinstance(node, nodes.Call):
        if not (isinstance(node.node, nodes.Name) and node.node.name == "range"):
            return
        if node.kwargs or node.dyn_args or node.dyn_kwargs:
            return
        pending: Callable[[], Any] = lambda: list(map(_constant, node.args))  # noqa: E731
        check: Callable[[Any], Any] = lambda args: _bounded_range(*args).__next__()  # noqa: E731
        text = "range"
    else:
        pending = lambda: (_constant(node.left), _constant(node.right))  # noqa: E731
        check = lambda pair: _binop(node.operator, *pair)  # noqa: E731
        text = node.operator
    try:
        operands = pending()
    except (_NotConstant, RenderLimitError, TypeError, ValueError, ArithmeticError):
        return  # not constant, or an operand breaks a limit itself and is reported alone
    try:
        check(operands)
    except RenderLimitError as exc:
        yield node, text, str(exc)
    except (TypeError, ValueError, ArithmeticError, StopIteration):
        return


class _NotConstant(Exception):
    pass


def _constant(node: nodes.Node) -> Any:
    """The value of a constant expression, computed within the limits, or _NotConstant."""
    if isinstance(node, nodes.Const):
        return node.value
    if isinstance(node, nodes.BinExpr) and node.operator in _OPERATORS:
        return _binop(node.operator, _constant(node.left), _constant(node.right))
    if isinstance(node, nodes.Neg):
        return -_constant(node.node)
    raise _NotConstant
