"""The template sandbox: what ``validate`` refuses, and the limits rendering keeps."""

from __future__ import annotations

import time

import pytest

from sequences.document import SequenceDocument
from sequences.errors import RenderError
from sequences.model import Sequence
from sequences.templates import check_template, render_step, sample_context


@pytest.mark.parametrize(
    ("source", "line", "column", "message"),
    [
        ("{{ talent.__class__ }}", 1, 11, "'__class__' is a private attribute"),
        ("{{ talent['_secret'] }}", 1, 12, "'_secret' is a private attribute"),
        ("a\n{% include 'x' %}", 2, 4, "{% include %} is not available"),
        ("{% extends 'x' %}", 1, 4, "{% extends %} is not available"),
        ("{% import 'x' as y %}", 1, 4, "{% import %} is not available"),
        ("{% from 'x' import y %}", 1, 4, "{% from ... import %} is not available"),
        ("{% for i in range(10**9) %}{% endfor %}", 1, 13, "range of 1,000,000,000 items"),
        ("{{ 'a' * 10**10 }}", 1, 8, "repeating a value 10,000,000,000 times"),
        ("{{ 7 ** 100000 }}", 1, 6, "7 ** 100000 is over 4,096 bits"),
    ],
)
def test_validate_refuses_what_the_sandbox_refuses_or_cannot_bound(
    source: str, line: int, column: int, message: str
) -> None:
    issues = check_template(source)
    assert len(issues) == 1, issues
    assert (issues[0].line, issues[0].column) == (line, column)
    assert message in issues[0].message


@pytest.mark.parametrize(
    "source",
    [
        "{% for i in range(3) %}{{ i }}{% endfor %}",
        "{{ talent.first_name * 2 }} {{ 2 ** 10 }} {{ 'x' * 3 }}",
        "{{ talent.skills | join(', ') | upper }} {{ '%s!' | format(talent.city) }}",
    ],
)
def test_ordinary_templates_pass_and_render(source: str) -> None:
    assert check_template(source) == []
    assert _render(source)


def _render(body: str) -> str:
    sequence = Sequence.model_validate(
        {"sequence": "s", "steps": [{"id": "sms", "channel": "sms", "body": body}]}
    )
    return render_step(SequenceDocument(sequence), "sms", None, sample_context()).text


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ talent.first_name * 10**9 }}", "repeating a value 1,000,000,000 times"),
        ("{% set a = talent.first_name * 20000 %}{{ a + a }}", "joining these values"),
        ("{{ talent.city | center(10**9) }}", "center() would make a text over 100,000"),
        ("{{ talent.city.ljust(10**9) }}", "ljust() would make a text over 100,000"),
        ("{{ '%999999999s' | format(talent.city) }}", "format() would make a text"),
        ("{{ '{:>999999999}'.format(talent.city) }}", "format() would make a text"),
        ("{{ (talent.city * 10000) | replace('', '-----') }}", "replace() would make a text"),
        ("{{ talent.city.replace('', '-' * 50000) }}", "replace() would make a text"),
        ("{{ ('a\n' * 40000) | indent(100) }}", "indent() would make a text"),
        ("{% for i in range(9999) %}{{ talent.email }}{% endfor %}", "rendered text is over"),
        ("{{ talent.attributes.github.missing }}", "has no attribute 'missing'"),
        ("{{ talent.attributes.years_experience / 0 }}", "ZeroDivisionError"),
        (
            "{% for i in range(9000) %}{% for j in range(9000) %}{% endfor %}{% endfor %}",
            "rendering took more than 2 seconds",
        ),
    ],
)
def test_rendering_stops_at_a_limit_or_a_failure_with_a_render_error(
    source: str, message: str
) -> None:
    started = time.monotonic()
    with pytest.raises(RenderError, match="template: ") as raised:
        _render(source)
    assert message in str(raised.value)
    assert time.monotonic() - started < 5


def test_a_failing_inline_template_of_a_stored_sequence_names_its_sequence_and_field() -> None:
    with pytest.raises(RenderError) as raised:
        _render("Hi\n{{ talent.attributes.talk }}")
    assert str(raised.value).startswith("sequence 's' inline body:2:1: template: ")
