"""Which branch moves a step on: the choices the engine makes, written once.

The interpreter (``engine.core.interpreter``) acts on them; the graph (``sequences.graph``) and
the checks (``sequences.checks``) draw and inspect the same choices, so a picture or a
warning never disagrees with what an enrollment does.
"""

from __future__ import annotations

from sequences.model import (
    EmailStep,
    EventBranch,
    NextBranch,
    SmsStep,
    TaskStep,
    TimeoutBranch,
    WhatsappStep,
)

AnyStep = EmailStep | SmsStep | WhatsappStep | TaskStep


def done_branch(step: AnyStep) -> NextBranch | None:
    """The branch taken as soon as the step is done (sent, or its task completed)."""
    return next((branch for branch in step.on if isinstance(branch, NextBranch)), None)


def holds(step: AnyStep) -> bool:
    """Whether a step without a plain branch waits once done (for an event or an ``after``)
    rather than falling through to the step written after it."""
    return any(isinstance(branch, TimeoutBranch | EventBranch) for branch in step.on)


def skip_branch(step: AnyStep) -> NextBranch | TimeoutBranch | None:
    """The branch a step whose ``if`` guard is false takes at once: its plain branch, else
    its first ``after`` (the duration is not waited: nothing was sent to wait on), else
    None: the step falls through to the one written after it."""
    timeouts = (branch for branch in step.on if isinstance(branch, TimeoutBranch))
    return done_branch(step) or next(timeouts, None)


__all__ = ["done_branch", "holds", "skip_branch"]
