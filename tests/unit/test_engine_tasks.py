"""A task step written for its talent when it is created (``progress.rendered_task``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.core.interpreter import CreateTask
from engine.enrollments.progress import rendered_task
from sequences import SequenceDocument, load_sequence, sample_context
from sequences.errors import RenderError

SEQUENCE = """\
sequence: calls
steps:
  - id: call
    channel: task
    title: "Call {{ talent.full_name }} ({{ talent.attributes.level | upper }})"
    body: "{{ sender.first_name }} for {{ company.name }}"
"""


@pytest.fixture
def doc(tmp_path: Path) -> SequenceDocument:
    (tmp_path / "calls.yaml").write_text(SEQUENCE)
    return load_sequence(tmp_path / "calls.yaml", tmp_path)


def _raw(doc: SequenceDocument) -> CreateTask:
    step = doc.sequence.steps[0]
    return CreateTask(step.id, step.title, step.body, None)  # type: ignore[union-attr]


def test_title_and_body_are_rendered_with_the_campaign_context(doc: SequenceDocument) -> None:
    context = sample_context()
    context["talent"] = {**context["talent"], "attributes": {"level": "staff"}}
    task = rendered_task(doc, _raw(doc), context)
    name = context["talent"]["full_name"]
    assert (task.title, task.body) == (f"Call {name} (STAFF)", "Charlotte for Acme Robotics")


def test_a_template_failing_for_this_talent_is_a_render_error(doc: SequenceDocument) -> None:
    """As for a message: the enrollment is parked in error, never a raw ``{{ }}`` to-do."""
    context = sample_context()
    context["talent"] = {**context["talent"], "attributes": {}}  # no level: undefined
    with pytest.raises(RenderError, match="level"):
        rendered_task(doc, _raw(doc), context)
