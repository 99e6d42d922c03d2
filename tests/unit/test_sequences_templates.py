"""Rendering: Markdown email to HTML and text, SMS segments, variants, tasks, snapshots."""

# ruff: noqa: E501  (YAML tables and messages read best one per line)

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from sequences import (
    DefinitionError,
    SequenceDocument,
    choose_variant,
    load_sequence,
    render_step,
    sample_context,
)
from sequences.sms import sms_segments
from sequences.templates import evaluate_guard

SEQUENCE = """\
sequence: demo
steps:
  - id: intro
    channel: email
    subject: "{{ talent.first_name }}, a question"
    body: templates/intro.md.j2
    variants:
      - {id: a, weight: 3}
      - {id: b, weight: 1, subject: "Quick one, {{ talent.first_name }}", body: "Short: {{ company.name }}"}
    on: [{after: 2 days, goto: followup}]
  - id: followup
    channel: email
    thread: intro
    body: "Hi again {{ talent.first_name }}"
    on: [{after: 2 days, goto: nudge}]
  - id: nudge
    channel: sms
    if: talent.phone
    body: "Hi {{ talent.first_name }}, {{ sender.first_name }} here"
    on: [{after: 2 days, goto: call}]
  - id: call
    channel: task
    title: "Call {{ talent.full_name }}"
    body: "About {{ campaign.name }}"
"""
INTRO = """\
Hi {{ talent.first_name }},

I saw your work at **{{ talent.company }}**:

- {{ talent.skills | join(", ") }}
- [our team]({{ company.website }})

Best,
{{ sender.name }}
"""


@pytest.fixture
def document(tmp_path: Path) -> SequenceDocument:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "intro.md.j2").write_text(INTRO)
    (tmp_path / "demo.yaml").write_text(SEQUENCE)
    return load_sequence(tmp_path / "demo.yaml", tmp_path)


def test_an_email_body_is_markdown_rendered_to_html_and_text(document: SequenceDocument) -> None:
    message = render_step(document, "intro", None, sample_context())
    assert message.subject == "Maya, a question"
    assert message.html == (
        "<p>Hi Maya,</p>\n<p>I saw your work at <strong>Northwind Analytics</strong>:</p>\n"
        "<ul>\n<li>python, go, postgresql</li>\n"
        '<li><a href="https://acme.example">our team</a></li>\n</ul>\n'
        "<p>Best,<br />\nCharlotte Bellet</p>\n"
    )
    assert message.text == (
        "Hi Maya,\n\nI saw your work at Northwind Analytics:\n\n"
        "- python, go, postgresql\n- our team (https://acme.example)\n\nBest,\nCharlotte Bellet"
    )
    assert (message.segments, message.encoding) == (None, None)


def test_talent_values_are_escaped_in_html_and_stay_literal(document: SequenceDocument) -> None:
    context = sample_context()
    context["talent"]["company"] = "<script>x</script> *Corp* [link](http://evil.example)"
    message = render_step(document, "intro", None, context)
    assert message.html is not None
    assert "<script>" not in message.html
    assert (
        "<strong>&lt;script&gt;x&lt;/script&gt; *Corp* [link](http://evil.example)</strong>"
        in message.html
    )
    assert "at <script>x</script> *Corp* [link](http://evil.example):" in message.text


def test_a_variant_overrides_subject_and_body(document: SequenceDocument) -> None:
    message = render_step(document, "intro", "b", sample_context())
    assert (message.subject, message.text) == ("Quick one, Maya", "Short: Acme Robotics")
    with pytest.raises(KeyError):
        render_step(document, "intro", "zz", sample_context())


def test_a_threaded_email_has_no_subject_of_its_own(document: SequenceDocument) -> None:
    message = render_step(document, "followup", None, sample_context())
    assert (message.subject, message.text) == (None, "Hi again Maya")


def test_sms_reports_segments_and_task_renders_title(document: SequenceDocument) -> None:
    sms = render_step(document, "nudge", None, sample_context())
    assert (sms.subject, sms.text, sms.html, sms.segments, sms.encoding) == (
        None,
        "Hi Maya, Charlotte here",
        None,
        1,
        "GSM-7",
    )
    task = render_step(document, "call", None, sample_context())
    assert (task.subject, task.text) == ("Call Maya Fischer", "About Sample campaign")


def test_a_missing_value_at_render_time_is_a_located_error(document: SequenceDocument) -> None:
    context = sample_context()
    del context["talent"]["company"]
    with pytest.raises(DefinitionError) as caught:
        render_step(document, "intro", None, context)
    assert str(caught.value) == (
        "templates/intro.md.j2:3:1: template: 'dict object' has no attribute 'company'"
    )


def test_guards() -> None:
    context = sample_context()
    assert evaluate_guard("talent.phone", context) is True
    context["talent"]["phone"] = None
    assert evaluate_guard("talent.phone", context) is False
    assert evaluate_guard("'go' in talent.skills", context) is True


@pytest.mark.parametrize(
    ("text", "encoding", "units", "count"),
    [
        ("", "GSM-7", 0, 0),
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("€" * 80, "GSM-7", 160, 1),  # extension characters take two septets
        ("Grüße, café à 9h", "GSM-7", 16, 1),
        ("ç" + "a" * 69, "UCS-2", 70, 1),
        ("ç" + "a" * 70, "UCS-2", 71, 2),
        ("👋" * 35, "UCS-2", 70, 1),  # surrogate pairs count twice
        ("日本" * 67, "UCS-2", 134, 2),
    ],
)
def test_sms_segments(text: str, encoding: str, units: int, count: int) -> None:
    parts = sms_segments(text)
    assert (parts.encoding, parts.units, parts.count) == (encoding, units, count)


def test_variant_choice_is_sticky_and_weighted(document: SequenceDocument) -> None:
    step = document.sequence.step("intro")
    assert choose_variant(step, "enrollment-42") == choose_variant(step, "enrollment-42")
    counts = Counter(choose_variant(step, f"enrollment-{n}") for n in range(4000))
    assert set(counts) == {"a", "b"}
    assert 0.70 < counts["a"] / 4000 < 0.80  # weights 3:1
    assert choose_variant(document.sequence.step("nudge"), "x") is None


def test_snapshot_round_trips_and_hash_follows_templates(document: SequenceDocument) -> None:
    snapshot = document.snapshot()
    assert set(snapshot) == {"sequence", "templates"}
    assert snapshot["templates"] == {"templates/intro.md.j2": INTRO}
    rebuilt = SequenceDocument.from_snapshot(snapshot)
    assert rebuilt.sequence == document.sequence
    assert rebuilt.content_hash == document.content_hash
    assert rebuilt.path == "<snapshot>"
    assert render_step(rebuilt, "intro", None, sample_context()) == render_step(
        document, "intro", None, sample_context()
    )
    edited = SequenceDocument(document.sequence, {"templates/intro.md.j2": INTRO + "PS\n"})
    assert edited.content_hash != document.content_hash
    assert len(document.content_hash) == 64
