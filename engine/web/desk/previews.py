"""A sequence's steps rendered for the Sequence page: the sample talent, or one of the base,
with the sender of a campaign that sends it (``nurture preview``'s context)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from campaigns.preview import preview_context
from sequences.errors import DefinitionError, InputError

if TYPE_CHECKING:
    from campaigns.workspace import Workspace
    from sequences.document import SequenceDocument
    from sequences.templates import RenderedMessage


@dataclass(frozen=True)
class Preview:
    step: str
    channel: str
    variant: str | None
    guard: str | None  # "if talent.phone: sent|skipped"
    message: RenderedMessage | None
    error: str | None


def previews(
    session: Session, workspace: Workspace, document: SequenceDocument, talent: str | None
) -> tuple[list[Preview], str | None]:
    """Every step and variant rendered, and an error when the talent is not found."""
    from engine.runs.runtime import talent_context
    from engine.talents.addresses import find_talent
    from sequences.templates import sample_context

    context = preview_context(workspace, sample_context(), document.sequence.sequence, None)
    error = None
    if talent:
        try:
            context["talent"] = talent_context(find_talent(session, talent))
        except InputError as exc:
            error = str(exc)
    return [p for step in document.sequence.steps for p in _step(document, step, context)], error


def _step(document: SequenceDocument, step: Any, context: dict[str, Any]) -> list[Preview]:
    from sequences.templates import evaluate_guard, render_step

    shown = []
    for variant in [v.id for v in getattr(step, "variants", ())] or [None]:
        guard = message = error = None
        try:
            if step.if_ is not None:
                sent = evaluate_guard(step.if_, context)
                guard = f"if {step.if_}: {'sent' if sent else 'skipped'}"
            message = render_step(document, step.id, variant, context)
        except DefinitionError as exc:
            error = str(exc)
        shown.append(Preview(step.id, step.channel, variant, guard, message, error))
    return shown
